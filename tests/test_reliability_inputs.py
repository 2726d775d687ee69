"""Reliability of the public boundary: every bad input gets a ValueError (or a named subclass) that
names the argument, before any work; nothing silently wrong (issue 14, items 8, 9, 12 and 14, and
numpy integer scalars accepted). Each case is a minimal reproducer of a finding."""
import numpy as np
import pytest
import torch

import labkit
from labkit import embed as E
from labkit._validation import MAX_CLASSES
from labkit.cll import (build_method, check_transition, list_methods, list_transitions, sample_complementary,
                        simulate_annotators, to_multi_hot, transition_matrix)
from labkit.clip import evaluate as CE
from labkit.data import from_arrays, load_dataset, make_lumbar
from labkit.train import evaluate

X3 = np.random.default_rng(0).random((3, 2)).astype(np.float32)
NAN, INF = float("nan"), float("inf")


class _Const(torch.nn.Module):
    """A model whose logits are fixed (or NaN), to test evaluate without training."""

    def __init__(self, k=3, fill=None):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.k, self.fill = k, fill

    def forward(self, x):
        z = torch.arange(self.k, dtype=torch.float32).expand(len(x), self.k) + self.w
        return torch.full_like(z, self.fill) if self.fill is not None else z


def _linear(k=3):
    return labkit.build_model("linear", (2,), k)


def _method(name="scl-nl", k=3):
    return build_method(name, k, Q=transition_matrix("uniform", k))


SOFT_OK = torch.tensor([[0.0, 0.5, 0.5], [0.0, 0.0, 1.0]])

# (reproducer, expected message); every one must raise ValueError
BAD = {
    # item 8: non-finite data
    "from_arrays NaN": (lambda: from_arrays([[NAN, 0], [1, 1], [2, 2]], [0, 1, 2]), "x must be finite"),
    "from_arrays inf": (lambda: from_arrays([[INF, 0], [1, 1], [2, 2]], [0, 1, 2]), "x must be finite"),
    "from_arrays strings": (lambda: from_arrays([["a", "b"]], [0]), "x must be numbers"),
    "blobs noise NaN": (lambda: load_dataset("blobs", noise=NAN), "noise"),
    "blobs noise inf": (lambda: load_dataset("blobs", noise=INF), "noise"),
    "moons noise NaN": (lambda: load_dataset("moons", noise=NAN), "noise"),
    "evaluate NaN inputs": (lambda: evaluate(_linear(), (torch.full((3, 2), NAN), torch.tensor([0, 1, 2]))),
                            "x must be finite"),
    "evaluate inf inputs": (lambda: evaluate(_linear(), (torch.full((3, 2), INF), torch.tensor([0, 1, 2]))),
                            "x must be finite"),
    "neighbors_of NaN": (lambda: E.neighbors_of(np.array([[NAN, 0], [1, 1], [2, 2]]), 0, k=1), "features must be finite"),
    "retrieval NaN": (lambda: CE.retrieval_metrics(torch.full((3, 2), NAN), torch.ones(3, 2)), "image_emb must be finite"),
    "modality_gap inf": (lambda: CE.modality_gap(torch.ones(3, 2), torch.full((3, 2), INF)), "text_emb must be finite"),
    "linear_probe NaN": (lambda: CE.linear_probe(np.full((4, 2), NAN), [0, 1, 0, 1], np.ones((2, 2)), [0, 1]),
                         "train_feats must be finite"),
    # item 9: labels
    "fractional labels": (lambda: from_arrays(X3, [0.5, 1.7, 2.9]), "fractional"),
    "NaN label": (lambda: from_arrays(X3, [0.0, NAN, 1.0]), "finite"),
    "negative label": (lambda: from_arrays(X3, [-1, 0, 1]), "labels must lie"),
    "label 10**9": (lambda: from_arrays(X3, [0, 1, 10**9]), "MAX_CLASSES"),
    "boolean labels": (lambda: from_arrays(X3, [True, False, True]), "booleans"),
    "string labels": (lambda: from_arrays(X3, ["a", "b", "c"]), "integer class labels"),
    "classes a string": (lambda: from_arrays(X3, [0, 1, 0], classes="ab"), "string"),
    "subset fractional": (lambda: from_arrays(X3, [0, 1, 2]).subset([0.7, 1.9]), "floats"),
    "subset short mask": (lambda: from_arrays(X3, [0, 1, 2]).subset([True, False]), "one entry per example"),
    "evaluate label 10**6": (lambda: evaluate(_linear(), (torch.zeros(3, 2), torch.tensor([0, 1, 10**6]))),
                             "MAX_CLASSES"),
    "evaluate negative label": (lambda: evaluate(_linear(), (torch.zeros(3, 2), torch.tensor([0, 1, -1]))),
                                "labels must lie"),
    "evaluate fractional label": (lambda: evaluate(_linear(), (torch.zeros(3, 2), torch.tensor([0, 1, 1.5]))),
                                  "fractional"),
    "evaluate lengths": (lambda: evaluate(_linear(), (torch.zeros(3, 2), torch.tensor([0, 1]))), "different lengths"),
    "evaluate not a pair": (lambda: evaluate(_linear(), torch.zeros(3, 2)), "Dataset or an"),
    "evaluate bad predict_fn": (lambda: evaluate(_linear(), (torch.zeros(3, 2), torch.tensor([0, 1, 2])),
                                                 predict_fn=lambda z: z), "predict_fn"),
    "selection negative label": (lambda: E.selection_summary([0, 1], labels=[-1, 0], classes=["a", "b"]),
                                 "labels must lie"),
    "selection negative index": (lambda: E.selection_summary([-1], labels=[0, 1], classes=["a", "b"]), "indices"),
    "selection index too big": (lambda: E.selection_summary([5], labels=[0, 1], classes=["a", "b"]), "indices"),
    "annotators fractional y": (lambda: simulate_annotators([0.5, 1.0], 4), "fractional"),
    "annotators negative y": (lambda: simulate_annotators([-1, 1], 4), "labels must lie"),
    "sample fractional y": (lambda: sample_complementary([0.5, 1.0], transition_matrix("uniform", 3)), "fractional"),
    "clip metrics negative": (lambda: CE.classification_metrics([0, -1], [0, 1]), "labels must lie"),
    "clip metrics fractional": (lambda: CE.classification_metrics([0, 1], [0.5, 1]), "fractional"),
    "clip metrics 10**9": (lambda: CE.classification_metrics([0, 10**9], [0, 1]), "MAX_CLASSES"),
    "linear_probe fractional": (lambda: CE.linear_probe(np.ones((4, 2)), [0, 1.5, 0, 1], np.ones((2, 2)), [0, 1]),
                                "fractional"),
    # item 12: soft targets, parameters, seeds
    "soft target negative": (lambda: _method().loss(torch.zeros(2, 3), torch.tensor([[-1.0, 1, 1], [0, 1, 0]])),
                             ">= 0"),
    "soft target NaN": (lambda: _method().loss(torch.zeros(2, 3), torch.tensor([[NAN, 1, 1], [0, 1, 0]])), "finite"),
    "soft target inf": (lambda: _method().loss(torch.zeros(2, 3), torch.tensor([[INF, 1, 1], [0, 1, 0]])), "finite"),
    "soft target zero row": (lambda: _method("fwd").loss(torch.zeros(2, 3), torch.tensor([[0.0, 0, 0], [0, 1, 0]])),
                             "empty"),
    "soft target zero row (ure)": (lambda: _method("ure-nn").loss(torch.zeros(2, 3),
                                                                  torch.tensor([[0.0, 0, 0], [0, 1, 0]])), "empty"),
    "multi-hot NaN": (lambda: to_multi_hot(torch.tensor([[NAN, 1.0, 0]]), 3), "finite"),
    "biased rho inf": (lambda: transition_matrix("biased", 3, rho=INF), "rho"),
    "biased rho NaN": (lambda: transition_matrix("biased", 3, rho=NAN), "rho"),
    "dirichlet seed str": (lambda: transition_matrix("dirichlet", 3, seed="a"), "seed"),
    "weak seed negative": (lambda: transition_matrix("weak", 4, seed=-1), "seed"),
    "custom without matrix": (lambda: transition_matrix("custom", 3), "matrix="),
    "check_transition None": (lambda: check_transition(None), "K×K matrix"),
    "check_transition strings": (lambda: check_transition([["a", "b"], ["c", "d"]]), "K×K matrix"),
    "lumbar weights NaN": (lambda: make_lumbar(10, class_weights=[NAN, 1, 1, 1, 1, 1]), "class_weights"),
    "lumbar weights negative": (lambda: make_lumbar(10, class_weights=[-1, 1, 1, 1, 1, 1]), "class_weights"),
    "lumbar weights zero": (lambda: make_lumbar(10, class_weights=[0] * 6), "class_weights"),
    "lumbar weights short": (lambda: make_lumbar(10, class_weights=[1, 1]), "class_weights"),
    "class_prior NaN": (lambda: build_method("scarce", 3, class_prior=[NAN, 1, 1]), "class_prior"),
    "annotator bias NaN": (lambda: simulate_annotators([0, 1], 4, bias=[NAN, 1, 1, 1]), "bias"),
    "fit weight_decay -1": (lambda: labkit.fit(_linear(), [(torch.zeros(2, 2),)], lambda m, b: m(b[0]).sum(),
                                               epochs=1, lr=0.1, weight_decay=-1, progress=False), "weight_decay"),
    "mlp dropout 1.5": (lambda: labkit.build_model("mlp", (2,), 3, dropout=1.5), "dropout"),
    "blobs seed str": (lambda: load_dataset("blobs", seed="a"), "seed"),
    "blobs seed float": (lambda: load_dataset("blobs", seed=1.5), "seed"),
    "moons seed negative": (lambda: load_dataset("moons", seed=-3), "seed"),
    "lumbar seed str": (lambda: make_lumbar(10, seed="a"), "seed"),
    "blobs n=3.5": (lambda: load_dataset("blobs", n=3.5), "n must be an integer"),
    "project seed str": (lambda: E.project_2d(X3, "pca", seed="a", cache=False), "seed"),
    "project n_neighbors 1.5": (lambda: E.project_2d(X3, "pca", n_neighbors=1.5, cache=False), "n_neighbors"),
    "project min_dist NaN": (lambda: E.project_2d(X3, "pca", min_dist=NAN, cache=False), "min_dist"),
    "project perplexity 0": (lambda: E.project_2d(X3, "tsne", perplexity=0, cache=False), "perplexity"),
    "project cache 'yes'": (lambda: E.project_2d(X3, "pca", cache="yes"), "cache"),
    "neighbors index 1.5": (lambda: E.neighbors_of(X3, 1.5, k=1), "index"),
    "neighbors metric": (lambda: E.neighbors_of(X3, 0, k=1, metric="manhattan"), "metric"),
    "download 'no'": (lambda: load_dataset("mnist", download="no"), "download"),
    "linear_probe C -1": (lambda: CE.linear_probe(np.ones((4, 2)), [0, 1, 0, 1], np.ones((2, 2)), [0, 1], C=-1), "C"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_gets_a_clear_value_error(name):
    call, message = BAD[name]
    with pytest.raises(ValueError, match=message):
        call()


def test_evaluate_on_nan_outputs_is_a_floating_point_error():
    with pytest.raises(FloatingPointError, match="NaN or infinite"):
        evaluate(_Const(fill=NAN), (torch.zeros(3, 2), torch.tensor([0, 1, 2])))


def test_evaluate_many_classes_is_sparse_not_terabytes():
    y = torch.tensor([0, 1, MAX_CLASSES - 1])
    out = evaluate(_Const(k=3), (torch.zeros(3, 2), y))  # predicts class 2 for every example
    assert out["confusion"].is_sparse and out["confusion"].shape == (MAX_CLASSES, MAX_CLASSES)
    assert out["accuracy"] == 0.0 and len(out["per_class_accuracy"]) == MAX_CLASSES
    assert int(out["confusion"].coalesce().values().sum()) == 3


def test_whole_number_float_labels_are_accepted():
    d = from_arrays(X3, np.array([0.0, 2.0, 1.0]))
    assert d.y.tolist() == [0, 2, 1] and d.y.dtype == torch.long and d.num_classes == 3


def test_explorer_refuses_bad_names_with_value_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path))
    from labkit.explorer import EmbeddingExplorer

    feats = np.random.default_rng(1).random((20, 3))
    bad = [dict(metric="manhattan"), dict(projection="mds"), dict(k=50), dict(k=0), dict(n_neighbors=1),
           dict(min_dist=2.0), dict(perplexity=0.5), dict(seed="a"), dict(labels=[-1] + [0] * 19),
           dict(labels=[0.5] * 20), dict(labels=[0] * 19 + [5], classes=["a", "b"])]
    for kw in bad:
        with pytest.raises(ValueError):
            EmbeddingExplorer(feats, projection=kw.pop("projection", "pca"), **kw)
    with pytest.raises(ValueError, match="metric must be one of cosine, euclidean"):
        EmbeddingExplorer(feats, projection="pca", metric="manhattan")
    explorer = EmbeddingExplorer(feats, projection="pca", labels=[0, 1] * 10, classes=["a", "b"])
    with pytest.raises(ValueError, match="index"):
        explorer.click(1.5)
    assert len(explorer.click(np.int64(3))) == 8  # numpy integers are integers


def test_controls_refuse_values_outside_their_range():
    from labkit.controls import dropdown, int_slider, slider

    with pytest.raises(ValueError, match="family must be one of uniform"):
        dropdown(list_transitions(custom=False), value="custom", description="family")
    with pytest.raises(ValueError, match="K must be an integer in 3..20"):
        int_slider(2, 3, 20, description="K")
    with pytest.raises(ValueError, match="noise"):
        slider(1.5, 0.0, 1.0, 0.05, description="noise")
    assert dropdown([("raw", False), ("scaled", True)], value=True).value is True


def test_transition_explorer_kind_is_a_value_error():
    from labkit.widgets import transition_explorer

    with pytest.raises(ValueError, match="uniform"):
        transition_explorer(kind="custom")
    with pytest.raises(ValueError, match="uniform"):
        transition_explorer(kind="none")


def test_custom_transition_message_says_how_to_pass_a_matrix():
    with pytest.raises(ValueError) as info:
        transition_matrix("custom", 3)
    message = str(info.value)
    assert "matrix=" in message and "uniform" in message and "custom" not in list_transitions(custom=False)


@pytest.mark.parametrize("value", [np.int64(3), np.int32(3), np.uint8(3)])
def test_numpy_integer_scalars_are_accepted(value):
    assert transition_matrix("uniform", value).shape == (3, 3)
    assert build_method("scl-nl", value).num_classes == 3
    assert labkit.build_model("mlp", (2,), value, hidden=value, depth=np.int64(1)).head.out_features == 3
    assert len(load_dataset("blobs", num_classes=value, n=np.int64(30), seed=np.int64(1))) == 30
    assert sample_complementary(torch.tensor([0, 1]), transition_matrix("uniform", 3), num_cl=np.int64(1),
                                seed=np.int64(0)).shape == (2,)
    assert E.neighbors_of(X3, np.int64(0), k=value - 2)[0].shape == (1,)
    assert len(make_lumbar(np.int64(4), image_size=np.int64(16), seed=np.int64(0))) == 4
    assert E.project_2d(np.random.default_rng(0).random((6, 3)), "pca", seed=np.int64(0), cache=False).shape == (6, 2)


def test_every_method_refuses_bad_soft_targets():
    for name in list_methods():
        m = build_method(name, 4, Q=transition_matrix("uniform", 4))
        with pytest.raises(ValueError):
            m.loss(torch.zeros(2, 4), torch.tensor([[NAN, 1.0, 0, 0], [0, 1.0, 0, 0]]))
        with pytest.raises(ValueError):
            m.loss(torch.zeros(2, 4), torch.tensor([[-0.5, 1.0, 0.5, 0], [0, 1.0, 0, 0]]))


def test_count_of_bad_inputs_is_reported():
    # the issue asks for the count: the table above, plus the explorer (11 + 1), controls (3),
    # transition_explorer (2), NaN outputs (1), and the per-method soft targets (2 per method)
    count = len(BAD) + 12 + 3 + 2 + 1 + 2 * len(list_methods())
    assert count >= 100
