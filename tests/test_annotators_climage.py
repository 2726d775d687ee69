import pickle

import numpy as np
import pytest
import torch

from labkit.cll import simulate_annotators, transition_matrix
from labkit.data import CLDataset, DatasetUnavailable, load_dataset


def test_protocol_picks_are_candidates_and_true_class_at_error_rate():
    y = torch.randint(0, 10, (30_000,), generator=torch.Generator().manual_seed(0))
    out = simulate_annotators(y, 10, error_rate=0.04, seed=1)
    assert out.labels.shape == (30_000, 3) and out.candidates.shape == (30_000, 3, 4)
    assert (out.candidates == out.labels[..., None]).any(-1).all(), "every pick is among the candidates"
    shown = out.candidates.sort(-1).values
    assert (shown[..., 1:] != shown[..., :-1]).all(), "candidates are distinct"
    true_rate = (out.labels == y[:, None]).float().mean().item()
    se = (0.04 * 0.96 / 90_000) ** 0.5
    assert abs(true_rate - 0.04) < 5 * se
    assert torch.allclose(out.Q.sum(1), torch.ones(10), atol=1e-5)
    assert abs(out.Q.diag().mean().item() - 0.04) < 0.01


def test_no_error_means_never_the_true_class_and_uniform_q():
    y = torch.randint(0, 5, (20_000,), generator=torch.Generator().manual_seed(2))
    out = simulate_annotators(y, 5, candidates=3, error_rate=0.0, seed=0)
    assert not (out.labels == y[:, None]).any()
    assert torch.allclose(out.Q, transition_matrix("uniform", 5), atol=0.02)


def test_bias_makes_some_classes_picked_more_and_seed_reproduces():
    y = torch.randint(0, 10, (20_000,), generator=torch.Generator().manual_seed(3))
    weights = torch.ones(10)
    weights[0] = 10.0
    out = simulate_annotators(y, 10, bias=weights, error_rate=0.0, seed=0)
    picks = torch.bincount(out.labels.flatten(), minlength=10).float()
    assert picks[0] > 2.5 * picks[1:].mean()
    a = simulate_annotators(y[:100], 10, bias=1.0, seed=5).labels
    b = simulate_annotators(y[:100], 10, bias=1.0, seed=5).labels
    assert torch.equal(a, b)


@pytest.mark.parametrize("kwargs,msg", [
    (dict(candidates=1), "candidates"), (dict(candidates=11), "candidates"),
    (dict(error_rate=-0.1), "error_rate"), (dict(error_rate=1.5), "error_rate"),
    (dict(error_rate=0.9), "impossible"), (dict(annotators=0), "annotators"),
    (dict(bias=[1.0, 2.0]), "bias"),
])
def test_bad_inputs(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        simulate_annotators(torch.tensor([0, 1, 2]), 10, **kwargs)


def _write_climage(path, n=6, size=8, k=10):
    rng = np.random.default_rng(0)
    data = {"names": [f"class{i}" for i in range(k)],
            "images": [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)],
            "ord_labels": rng.integers(0, k, n).tolist(),
            "cl_labels": rng.integers(0, k, (n, 3)).tolist()}
    path.write_bytes(pickle.dumps(data))
    return data


def test_climage_pickle_is_read(tmp_path):
    data = _write_climage(tmp_path / "clmicro_imagenet10_train.pkl")
    train = load_dataset("clmicro-imagenet10", root=tmp_path, num_cl=2)
    assert isinstance(train, CLDataset) and train.in_shape == (3, 8, 8)
    assert train.y.tolist() == data["ord_labels"] and train.cl.tolist() == [c[:2] for c in data["cl_labels"]]
    assert train.classes[3] == "class3"
    assert torch.allclose(train.x[0].permute(1, 2, 0) * 255, torch.tensor(data["images"][0], dtype=torch.float32))
    assert train.subset([4, 1]).cl.tolist() == [data["cl_labels"][4][:2], data["cl_labels"][1][:2]]
    _write_climage(tmp_path / "clmicro_imagenet10_test.pkl", n=3)
    assert len(load_dataset("clmicro-imagenet10", "test", root=tmp_path)) == 3


def test_clcifar_missing_file_names_the_place_and_the_offline_alternative(tmp_path):
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset("clcifar10", root=tmp_path)
    assert "clcifar10.pkl" in str(info.value) and "simulate_annotators" in str(info.value)
    with pytest.raises(ValueError, match="num_cl"):
        load_dataset("clcifar20", root=tmp_path, num_cl=4)
