import pickle
import socket
import struct

import numpy as np
import pytest
import torch

from labkit.data import Dataset, DatasetUnavailable, from_arrays, list_datasets, load_dataset


def test_digits_shapes_range_and_fixed_split():
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert train.in_shape == (1, 8, 8) and train.num_classes == 10
    assert len(train) + len(test) == 1797
    assert float(train.x.min()) >= 0 and float(train.x.max()) <= 1
    assert train.x.dtype == torch.float32 and train.y.dtype == torch.long
    # stratified: every class in both splits, in about the same proportion
    share = test.class_counts().float() / train.class_counts().float()
    assert torch.all((share > 0.28) & (share < 0.39))
    again = load_dataset("digits", "test")
    assert torch.equal(again.x, test.x)


def test_toys_are_2d_and_deterministic():
    a = load_dataset("blobs", num_classes=5, n=500, seed=3)
    b = load_dataset("blobs", num_classes=5, n=500, seed=3)
    assert a.in_shape == (2,) and a.num_classes == 5 and len(a) == 500
    assert torch.equal(a.x, b.x)
    m = load_dataset("moons", split="test", n=300)
    assert m.num_classes == 2 and m.in_shape == (2,)
    with pytest.raises(ValueError, match="exactly 2 classes"):
        load_dataset("moons", num_classes=3)
    with pytest.raises(ValueError, match="does not take"):
        load_dataset("digits", colour=True)


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="digits"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="split"):
        load_dataset("digits", "validation")
    assert list_datasets()[:3] == ["digits", "blobs", "moons"]


def test_from_arrays_numpy_and_torch():
    d = from_arrays(np.zeros((4, 3)), np.array([0, 1, 2, 1]), classes=["a", "b", "c"])
    assert d.x.dtype == torch.float32 and d.class_counts().tolist() == [1, 2, 1]
    d2 = from_arrays(torch.ones(2, 2, dtype=torch.float64), torch.tensor([1, 0]))
    assert d2.classes == ["0", "1"] and d2.x.dtype == torch.float32


@pytest.mark.parametrize("x,y,classes,msg", [
    (np.zeros((3, 2)), [0, 1], None, "different lengths"),
    (np.zeros((0, 2)), [], None, "empty"),
    (np.zeros((2, 2)), [0, 3], ["a", "b"], "labels must lie in 0..1"),
    (np.zeros((2, 2)), [0, -1], ["a", "b"], "labels must lie"),
    (np.zeros((2, 2)), [[0], [1]], None, "1-D"),
])
def test_bad_input_is_rejected(x, y, classes, msg):
    with pytest.raises(ValueError, match=msg):
        from_arrays(x, y, classes=classes)


def test_subset_split_to_and_per_example_data():
    d = load_dataset("digits")
    s = d.subset([0, 2, 4])
    assert len(s) == 3 and torch.equal(s.x[1], d.x[2]) and s.classes == d.classes
    mask = d.y == 3
    assert len(d.subset(mask)) == int(mask.sum())
    with pytest.raises(ValueError):
        d.subset([len(d)])
    rest, held = d.split(0.2, seed=1)
    assert len(rest) + len(held) == len(d)
    assert torch.all(held.class_counts() > 0)
    assert abs(len(held) / len(d) - 0.2) < 0.02
    assert d.to("cpu") is d

    class Paired(Dataset):
        per_example = ("notes",)

    p = Paired(np.zeros((3, 1)), [0, 1, 0])
    p.notes = ["a", "b", "c"]
    assert p.subset([2, 0]).notes == ["c", "a"]


# --- torchvision-layout files written by the tests -------------------------------------------

def _write_idx(path, array):
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    path.write_bytes(header + array.tobytes())


def test_mnist_layout_is_read(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = np.arange(5 * 28 * 28, dtype=np.int64).reshape(5, 28, 28) % 256
    _write_idx(raw / "t10k-images-idx3-ubyte", images)
    _write_idx(raw / "t10k-labels-idx1-ubyte", [3, 1, 4, 1, 5])
    d = load_dataset("mnist", "test", root=tmp_path, download=False)
    assert d.in_shape == (1, 28, 28) and d.y.tolist() == [3, 1, 4, 1, 5]
    assert torch.allclose(d.x[0, 0], torch.tensor(images[0] / 255.0, dtype=torch.float32))


def test_cifar_layouts_are_read(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)]:
        batch = {b"data": np.full((2, 3072), 255, dtype=np.uint8), b"labels": [0, 9]}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [f"c{i}".encode() for i in range(10)]}))
    d = load_dataset("cifar10", root=tmp_path, download=False)
    assert len(d) == 10 and d.in_shape == (3, 32, 32) and d.classes[9] == "c9" and float(d.x.max()) == 1.0

    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    data = {b"data": np.zeros((3, 3072), dtype=np.uint8), b"fine_labels": [50, 60, 70], b"coarse_labels": [19, 0, 7]}
    (folder / "test").write_bytes(pickle.dumps(data))
    (folder / "meta").write_bytes(pickle.dumps({b"coarse_label_names": [f"s{i}".encode() for i in range(20)]}))
    d = load_dataset("cifar20", "test", root=tmp_path, download=False)
    assert d.y.tolist() == [19, 0, 7] and d.num_classes == 20


def test_missing_files_raise_dataset_unavailable(tmp_path):
    with pytest.raises(DatasetUnavailable, match="digits"):
        load_dataset("fashion-mnist", root=tmp_path, download=False)
    assert issubclass(DatasetUnavailable, RuntimeError)


def test_offline_download_fails_fast_with_a_clear_message(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network is unreachable (test)")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset("kmnist", root=tmp_path)
    message = str(info.value)
    assert "could not be downloaded" in message and "digits" in message
