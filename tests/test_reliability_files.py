"""Reliability on disk and network: caches never cost a result, corrupted downloads and a bad
LABKIT_DATA raise DatasetUnavailable naming the file and the fix, the network check is bounded in
time, and load_paired_folder names the line of every bad row (issue 14, items 7, 10 and 13)."""
import gzip
import os
import pickle
import socket
import stat
import time
import warnings

import numpy as np
import pytest
import torch

from labkit import embed as E
from labkit.data import DatasetUnavailable, load_climage, load_dataset, load_paired_folder
from labkit.data import downloads as D

FEATS = np.random.default_rng(0).random((12, 4)).astype(np.float32)


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch):
    monkeypatch.setattr(E, "_WARNED", set())  # each test sees its own "warn once"


# ------------------------------------------------------------------ item 7: the projection cache

def _cache_file(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path))
    path = E.cache_path(FEATS, "pca", seed=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_zero_byte_cache_file_warns_and_computes(tmp_path, monkeypatch):
    path = _cache_file(tmp_path, monkeypatch)
    path.write_bytes(b"")
    with pytest.warns(RuntimeWarning, match="unreadable"):
        xy = E.project_2d(FEATS, "pca")
    assert xy.shape == (12, 2) and np.isfinite(xy).all()
    assert np.array_equal(np.load(path), xy)  # rewritten


@pytest.mark.parametrize("content", [b"\x93NUMPY garbage", b"not numpy at all", pickle.dumps({"a": 1})])
def test_corrupted_cache_file_warns_and_computes(tmp_path, monkeypatch, content):
    path = _cache_file(tmp_path, monkeypatch)
    path.write_bytes(content)
    with pytest.warns(RuntimeWarning, match="projection cache"):
        xy = E.project_2d(FEATS, "pca")
    assert np.allclose(xy, E.project_2d(FEATS, "pca", cache=False))


@pytest.mark.parametrize("bad", [np.full((12, 2), np.nan), np.full((12, 2), np.inf), np.zeros((11, 2)),
                                 np.zeros((12, 2), dtype=np.int64)])
def test_cache_entry_with_nan_or_wrong_shape_is_recomputed(tmp_path, monkeypatch, bad):
    path = _cache_file(tmp_path, monkeypatch)
    np.save(path, bad)
    with pytest.warns(RuntimeWarning, match="bad projection"):
        xy = E.project_2d(FEATS, "pca")
    assert np.isfinite(xy).all() and xy.shape == (12, 2)


def test_read_only_cache_keeps_the_projection_and_warns_once(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path))

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied (read-only cache, test)")

    monkeypatch.setattr(E.tempfile, "mkstemp", refuse)  # root ignores chmod, so refuse the write itself
    with pytest.warns(RuntimeWarning, match="could not be written") as record:
        first = E.project_2d(FEATS, "pca")
        second = E.project_2d(FEATS * 2, "pca")
    assert len([w for w in record if "could not be written" in str(w.message)]) == 1  # once
    assert first.shape == second.shape == (12, 2)


def test_labkit_data_pointing_at_a_file(tmp_path, monkeypatch):
    target = tmp_path / "a-file"
    target.write_text("not a directory")
    monkeypatch.setenv("LABKIT_DATA", str(target))
    with pytest.warns(RuntimeWarning, match="directory is unusable"):
        xy = E.project_2d(FEATS, "pca")
    assert xy.shape == (12, 2)
    with pytest.raises(DatasetUnavailable, match="LABKIT_DATA"):
        load_dataset("mnist", download=False)
    with pytest.raises(DatasetUnavailable, match="LABKIT_DATA"):
        load_climage("clcifar10")
    with pytest.raises(DatasetUnavailable, match="is a file"):
        load_dataset("cifar10", root=target, download=False)


def test_cache_file_has_normal_permissions(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path))
    old = os.umask(0o022)
    try:
        E.project_2d(FEATS, "pca")
    finally:
        os.umask(old)
    mode = stat.S_IMODE(os.stat(E.cache_path(FEATS, "pca", seed=0)).st_mode)
    assert mode == 0o644


# ------------------------------------------------------------------ item 10: corrupted downloads

def _mnist_raw(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    return raw


def _idx(values, dims):
    header = bytes([0, 0, 8, len(dims)]) + b"".join(int(d).to_bytes(4, "big") for d in dims)
    return header + bytes(values)


GOOD_LABELS = _idx([1, 2], [2])
GOOD_IMAGES = _idx([0] * (2 * 28 * 28), [2, 28, 28])


@pytest.mark.parametrize("images,labels,why", [
    (b"plain bytes, not gzip", GOOD_LABELS, "BadGzipFile|Not a gzipped"),         # a .gz that is not gzip
    (gzip.compress(GOOD_IMAGES)[:40], GOOD_LABELS, "EOFError|truncated|compressed"),  # truncated gzip
    (gzip.compress(GOOD_IMAGES[:500]), GOOD_LABELS, "truncated"),                  # truncated IDX
    (gzip.compress(b"\x01\x02\x03\x04" + GOOD_IMAGES[4:]), GOOD_LABELS, "IDX"),    # wrong magic
    (gzip.compress(GOOD_IMAGES), _idx([1, 2, 3], [3]), "labels"),                  # counts differ
    (gzip.compress(GOOD_IMAGES), _idx([1, 200], [2]), "0..9"),                     # a label of 200
])
def test_corrupted_mnist_names_the_file_and_the_fix(tmp_path, images, labels, why):
    raw = _mnist_raw(tmp_path)
    (raw / "t10k-images-idx3-ubyte.gz").write_bytes(images)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(labels)
    with pytest.raises(DatasetUnavailable, match=why) as info:
        load_dataset("mnist", "test", root=tmp_path, download=False)
    assert "Delete it and download it again" in str(info.value) and "ubyte" in str(info.value)


def _cifar(tmp_path, batch):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    (folder / "test").write_bytes(batch)
    return folder / "test"


GOOD_CIFAR = pickle.dumps({b"data": np.zeros((2, 3072), dtype=np.uint8), b"coarse_labels": [1, 2]})


@pytest.mark.parametrize("content,why", [
    (GOOD_CIFAR[: len(GOOD_CIFAR) // 2], "Error"),                                     # truncated pickle
    (b"", "EOFError"),                                                                  # 0-byte file
    (pickle.dumps({b"data": np.zeros((2, 3000), dtype=np.uint8), b"coarse_labels": [1, 2]}), "3072"),  # shape
    (pickle.dumps({b"data": np.zeros((2, 32, 32, 3), dtype=np.uint8), b"coarse_labels": [1, 2]}), "3072"),
    (pickle.dumps({b"pixels": np.zeros((2, 3072), dtype=np.uint8)}), "KeyError"),      # missing key
    (pickle.dumps({b"data": np.zeros((2, 3072), dtype=np.uint8), b"coarse_labels": [1]}), "labels"),
    (pickle.dumps({b"data": np.zeros((2, 3072), dtype=np.uint8), b"coarse_labels": [1, 99]}), "0..19"),
    (pickle.dumps([1, 2, 3]), "Error"),                                                 # not a dict
])
def test_corrupted_cifar_names_the_file_and_the_fix(tmp_path, content, why):
    path = _cifar(tmp_path, content)
    with pytest.raises(DatasetUnavailable, match=why) as info:
        load_dataset("cifar20", "test", root=tmp_path, download=False)
    assert "Delete it" in str(info.value) and "cifar-100-python" in str(info.value)
    assert path.exists()  # nothing deleted behind the user's back


GOOD_CL = {"names": ["a", "b", "c"], "images": [np.zeros((4, 4, 3), np.uint8)] * 2, "ord_labels": [0, 1],
           "cl_labels": [[1, 2, 2], [0, 2, 0]]}


@pytest.mark.parametrize("content,why", [
    (pickle.dumps(GOOD_CL)[:60], "Error"),                                              # truncated
    (pickle.dumps({"images": []}), "CLImage pickle"),                                   # keys
    (pickle.dumps({**GOOD_CL, "images": [np.zeros((4, 4, 3), np.uint8), np.zeros((5, 4, 3), np.uint8)]}),
     "do not stack"),
    (pickle.dumps({**GOOD_CL, "ord_labels": [0.5, 1.5]}), "ord_labels"),
    (pickle.dumps({**GOOD_CL, "ord_labels": [0, 7]}), "ord_labels"),
    (pickle.dumps({**GOOD_CL, "cl_labels": [[1, 2, 9], [0, 2, 0]]}), "complementary labels outside"),
])
def test_corrupted_climage_names_the_file(tmp_path, content, why):
    (tmp_path / "clcifar10.pkl").write_bytes(content)
    with pytest.raises(DatasetUnavailable, match=why) as info:
        load_climage("clcifar10", root=tmp_path)
    assert "clcifar10.pkl" in str(info.value)


def test_good_climage_still_loads(tmp_path):
    (tmp_path / "clcifar10.pkl").write_bytes(pickle.dumps(GOOD_CL))
    d = load_climage("clcifar10", root=tmp_path)
    assert d.cl.shape == (2, 3) and d.y.tolist() == [0, 1]


def test_a_dns_lookup_that_hangs_is_bounded(tmp_path, monkeypatch):
    import torchvision.datasets  # noqa: F401 - its first import is slow; time only the check

    def hang(*args, **kwargs):
        time.sleep(30)
        raise OSError("too late")

    monkeypatch.setattr(socket, "getaddrinfo", hang)
    monkeypatch.setattr(D, "_NETWORK_DEADLINE", 0.5)
    start = time.perf_counter()
    with pytest.raises(DatasetUnavailable, match="within 0.5 s") as info:
        load_dataset("kmnist", root=tmp_path)
    assert time.perf_counter() - start < 5
    assert "digits" in str(info.value)


# ------------------------------------------------------------------ item 13: load_paired_folder

def _folder(tmp_path, csv_bytes, images=("a.png",)):
    from PIL import Image

    for name in images:
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / name)
    (tmp_path / "reports.csv").write_bytes(csv_bytes)
    return tmp_path


def test_broken_png_names_its_line(tmp_path):
    folder = _folder(tmp_path, b"image,report\na.png,fine\nb.png,broken\n")
    (folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(ValueError, match=r"line 3: b.png is not a readable image"):
        load_paired_folder(folder)


def test_npy_with_nan_is_refused_not_zeroed(tmp_path):
    folder = _folder(tmp_path, b"image,report\na.png,fine\nb.npy,nan pixels\n")
    img = np.ones((8, 8), np.float32)
    img[2, 3] = np.nan
    np.save(folder / "b.npy", img)
    with pytest.raises(ValueError, match=r"line 3: b.npy: the image holds 1 NaN"):
        load_paired_folder(folder)
    (folder / "b.npy").write_bytes(b"")
    with pytest.raises(ValueError, match=r"line 3: b.npy is not a readable .npy"):
        load_paired_folder(folder)


def test_one_row_csv_without_header_says_so(tmp_path):
    folder = _folder(tmp_path, b"a.png,a report without a header line\n")
    with pytest.raises(ValueError, match="line 1: the header lacks column"):
        load_paired_folder(folder)


def test_header_only_csv(tmp_path):
    folder = _folder(tmp_path, b"image,report\n")
    with pytest.raises(ValueError, match="header but no data rows"):
        load_paired_folder(folder)


def test_latin1_csv_says_utf8(tmp_path):
    folder = _folder(tmp_path, "image,report\na.png,Befund: Bandscheibe gewölbt\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8"):
        load_paired_folder(folder)


@pytest.mark.parametrize("cell,why", [("", "line 3: the label is empty"), ("-1", "line 3: label -1 is outside"),
                                      ("1000000000", "line 3: label 1000000000 is outside")])
def test_bad_label_cells_name_the_line(tmp_path, cell, why):
    folder = _folder(tmp_path, f"image,report,label\na.png,one,0\na.png,two,{cell}\n".encode())
    with pytest.raises(ValueError, match=why):
        load_paired_folder(folder)


def test_good_folder_still_loads_with_bom(tmp_path):
    folder = _folder(tmp_path, "\ufeffimage,report,label\na.png,one,disc\na.png,two,normal\n".encode())
    pairs = load_paired_folder(folder, image_size=None)
    assert pairs.classes == ["disc", "normal"] and pairs.y.tolist() == [0, 1]
    assert torch.isfinite(pairs.x).all()


def test_no_warning_when_the_cache_works(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = E.project_2d(FEATS, "pca")
        b = E.project_2d(FEATS, "pca")
    assert np.array_equal(a, b)
