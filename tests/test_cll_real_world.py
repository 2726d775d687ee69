"""run_cll on real-world complementary labels: simulated annotators (CLImage protocol) and human labels."""
import pickle

import numpy as np
import pytest
import torch

import labkit.cll as cll
from labkit import cli
from labkit.data import CLDataset, load_dataset
from labkit.device import make_generator
from labkit.experiments import run_cll

FAST = dict(epochs=2, seeds=(0,), progress=False)


def _spy_make_method(monkeypatch):
    """Record the Q that run_cll hands to make_method."""
    seen, make = [], cll.make_method

    def spy(name, k, *, Q=None, **kw):
        seen.append(Q.clone())
        return make(name, k, Q=Q, **kw)

    monkeypatch.setattr(cll, "make_method", spy)
    return seen


def test_annotator_rows_record_the_settings_and_learn():
    rows = run_cll(method="scl-nl", transition="annotators", num_cl=3, annotator_error=0.0, annotator_candidates=5,
                   epochs=10, lr=3e-3, batch_size=128, seeds=(0,), progress=False)
    r = rows[0]
    assert (r["transition"], r["num_cl"], r["seed"]) == ("annotators", 3, 0)
    assert (r["annotator_error"], r["annotator_candidates"], r["annotator_bias"]) == (0.0, 5, 0.0)
    assert r["test_accuracy"] > 0.3  # chance is 0.1; error-free annotators give informative labels


def test_annotator_q_is_the_simulators_empirical_q_of_the_training_split(monkeypatch):
    seen = _spy_make_method(monkeypatch)
    run_cll(method="fwd", transition="annotators", annotator_error=0.1, seeds=(3,), epochs=1, progress=False)
    train = load_dataset("digits")
    tr, _ = train.split(0.1, seed=3)
    expected = cll.simulate_annotators(tr.y, 10, error_rate=0.1, seed=make_generator(3))
    torch.testing.assert_close(seen[0], expected.Q)
    assert seen[0].diag().min() > 0  # the annotation noise: the true class is sometimes picked


def test_annotator_bias_is_shared_by_both_splits(monkeypatch):
    calls, simulate = [], cll.simulate_annotators

    def spy(y, k, **kw):
        if "bias" in kw:  # not run_cll's up-front check of the options
            calls.append(kw["bias"])
        return simulate(y, k, **kw)

    monkeypatch.setattr(cll, "simulate_annotators", spy)
    row = run_cll(transition="annotators", annotator_bias=1.0, **FAST)[0]
    assert row["annotator_bias"] == 1.0
    assert len(calls) == 2 and torch.equal(calls[0], calls[1]) and calls[0].std() > 0
    calls.clear()
    run_cll(transition="annotators", annotator_bias=0.0, **FAST)
    assert calls == [None, None]


def _images(y, rng):
    """Learnable 32×32×3 uint8 images: a fixed random prototype per class plus pixel noise."""
    prototypes = np.random.default_rng(42).integers(0, 200, (10, 32, 32, 3))
    return np.clip(prototypes[np.asarray(y)] + rng.integers(0, 56, (len(y), 32, 32, 3)), 0, 255).astype(np.uint8)


def _write_cifar10_test(root, y):
    """A CIFAR-10 test batch in torchvision layout (rows of 3072 bytes, channel-first)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    data = _images(y, np.random.default_rng(1)).transpose(0, 3, 1, 2).reshape(len(y), 3072)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": data, b"labels": list(y)}))


def _write_clcifar10(path, n=300, k=10):
    """A tiny CLCIFAR10 pickle (keys names, images, ord_labels, cl_labels) with learnable images and
    three human-like complementary labels per image, never the true class."""
    rng = np.random.default_rng(0)
    y = np.arange(n) % k
    cl = (y[:, None] + rng.integers(1, k, (n, 3))) % k
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps({"names": [f"class{i}" for i in range(k)], "images": list(_images(y, rng)),
                                   "ord_labels": y.tolist(), "cl_labels": cl.tolist()}))
    return y, cl


def test_clcifar10_by_name_trains_on_the_human_labels(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path))
    _write_clcifar10(tmp_path / "climage" / "clcifar10.pkl")
    _write_cifar10_test(tmp_path, np.arange(100) % 10)
    seen = _spy_make_method(monkeypatch)
    rows = run_cll(dataset="clcifar10", method="scl-nl", num_cl=3, epochs=15, lr=3e-3, batch_size=64, seeds=(0,),
                   progress=False)
    assert (rows[0]["dataset"], rows[0]["transition"], rows[0]["num_cl"]) == ("clcifar10", "human", 3)
    # learnt from the pickle's complementary labels alone (chance 0.1); 30 validation images make the
    # SCEL-chosen epoch an early one, so the last epoch is checked too, as in test_cll_experiment.py
    assert max(rows[0]["test_accuracy"], rows[0]["final_test_accuracy"]) > 0.3
    train = load_dataset("clcifar10", root=tmp_path / "climage")
    tr, _ = train.split(0.1, seed=0)
    expected = cll.empirical_transition(tr.y.repeat_interleave(3), tr.cl.flatten(), 10)
    torch.testing.assert_close(seen[0], expected)
    assert (seen[0].diag() == 0).all()  # these human labels never name the true class


def test_a_cldataset_pair_uses_its_labels_not_sampled_ones(tmp_path, monkeypatch):
    _write_clcifar10(tmp_path / "clcifar10.pkl", n=100)
    _write_cifar10_test(tmp_path, np.arange(20) % 10)
    train = load_dataset("clcifar10", root=tmp_path, num_cl=2)
    test = load_dataset("cifar10", "test", root=tmp_path, download=False)
    assert isinstance(train, CLDataset)
    loaded, loader = [], cll.to_multi_hot

    def spy(cl, k):
        loaded.append(cl.clone())
        return loader(cl, k)

    monkeypatch.setattr(cll, "to_multi_hot", spy)
    row = run_cll(dataset=(train, test), transition="human", num_cl=2, **FAST)[0]
    assert row["transition"] == "human" and row["dataset"] == "clcifar10"
    tr, va = train.split(0.1, seed=0)
    assert torch.equal(loaded[0], tr.cl) and torch.equal(loaded[1], va.cl)


@pytest.mark.parametrize("kw,match", [
    (dict(transition="annotators", num_cl=4), "num_cl must be 1, 2 or 3"),
    (dict(transition="annotators", num_cl=0), "num_cl must be 1, 2 or 3"),
    (dict(transition="annotators", annotator_error=1.5), "annotator_error"),
    (dict(transition="annotators", annotator_error=0.5), "impossible"),
    (dict(transition="annotators", annotator_candidates=1), "annotator_candidates"),
    (dict(transition="annotators", annotator_candidates=11), "annotator_candidates"),
    (dict(transition="annotators", annotator_bias=-1.0), "annotator_bias"),
    (dict(transition="human"), "real-world dataset"),
    (dict(transition="annotator"), "annotators"),
])
def test_bad_annotator_settings_fail_before_training(kw, match):
    with pytest.raises(ValueError, match=match):
        run_cll(progress=False, **kw)


def test_unknown_options_are_refused(tmp_path, capsys):
    with pytest.raises(TypeError):
        run_cll(transition="annotators", annotators=5, progress=False)
    with pytest.raises(SystemExit):
        cli.main(["cll", "--transition", "annotators", "--annotator-rate", "0.1"])
    assert "unrecognized arguments" in capsys.readouterr().err


def test_real_world_dataset_refuses_synthetic_transitions_and_too_many_labels(tmp_path):
    _write_clcifar10(tmp_path / "clcifar10.pkl", n=100)
    _write_cifar10_test(tmp_path, np.arange(20) % 10)
    pair = (load_dataset("clcifar10", root=tmp_path, num_cl=2), load_dataset("cifar10", "test", root=tmp_path,
                                                                             download=False))
    with pytest.raises(ValueError, match="human complementary labels"):
        run_cll(dataset=pair, transition="strong", progress=False)
    with pytest.raises(ValueError, match="num_cl must be an integer in 1..2"):
        run_cll(dataset=pair, num_cl=3, progress=False)


def test_cli_sweeps_uniform_and_annotators(tmp_path, capsys):
    code = cli.main(["cll", "--transition", "uniform", "annotators", "--annotator-error", "0.04",
                     "--seeds", "0", "--epochs", "1", "--quiet"])
    assert code == 0
    table = capsys.readouterr().out
    assert "uniform" in table and "annotators" in table


# ------------------------------------------------------------------ notebook 01's real-world figure and widget

def test_annotator_figure_shows_uniform_beside_the_simulators_q():
    from labkit import plots

    fig = plots.annotator_transition_figure(error_rate=0.04, n=3000, seed=2)
    left, right = (torch.tensor(t.z, dtype=torch.float32) for t in fig.data)
    torch.testing.assert_close(left, cll.transition_matrix("uniform", 10))
    expected = cll.simulate_annotators(torch.arange(3000) % 10, 10, error_rate=0.04, seed=2).Q
    torch.testing.assert_close(right, expected)
    assert "9,000 labels" in fig.layout.annotations[1].text
    with pytest.raises(ValueError, match="candidates"):
        plots.annotator_transition_figure(candidates=12)


def test_annotator_widget_redraws_and_refuses_impossible_settings():
    from labkit import widgets

    w = widgets.annotator_explorer(n=500)
    w.controls["error_rate"].value = 0.0
    assert w.status.value == "" and max(w.figure.data[1].z[i][i] for i in range(10)) == 0
    w.controls["candidates"].value = 12
    assert "Not allowed" in w.status.value and "candidates" in w.status.value


def test_annotator_defaults_do_not_block_other_label_sources_with_few_classes():
    blobs = (load_dataset("blobs", "train", num_classes=3), load_dataset("blobs", "test", num_classes=3))
    assert run_cll(dataset=blobs, transition="uniform", **FAST)[0]["annotator_candidates"] == 4  # 4 > K = 3
    with pytest.raises(ValueError, match="annotator_candidates must be an integer in 2..3"):
        run_cll(dataset=blobs, transition="annotators", progress=False)
