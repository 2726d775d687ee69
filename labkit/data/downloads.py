"""The downloadable datasets (torchvision layout): MNIST, Fashion-MNIST, KMNIST, CIFAR-10, CIFAR-20.

Files are read from ``data_dir()`` (or ``root``) and fetched with torchvision when missing and
online. Every failure is a :class:`~labkit.data.DatasetUnavailable` that says what to do: offline
(the network check, DNS lookup included, is bounded by ``_NETWORK_DEADLINE`` seconds), a
``LABKIT_DATA`` that is not a directory, or a corrupted download (a non-gzip ``.gz``, a truncated
file, a CIFAR batch of the wrong shape), which names the file and says to delete it and download
again. Importing this module registers the datasets with :func:`~labkit.data.load_dataset`.
"""
from __future__ import annotations

import gzip
import pickle
import socket
import threading
import zlib
from pathlib import Path
from typing import Callable

import numpy as np

from .._validation import boolean
from ..config import data_dir
from .datasets import _REGISTRY, EMBEDDED, Dataset, DatasetUnavailable

__all__ = ["corrupt_file", "DOWNLOADABLE"]

DOWNLOADABLE = ("mnist", "fashion-mnist", "kmnist", "cifar10", "cifar20")


def corrupt_file(path: Path, why: str) -> DatasetUnavailable:
    """The error for a file on disk that cannot be read: name it and say how to fix it."""
    return DatasetUnavailable(
        f"{path} cannot be read ({why}); it is probably a corrupted or interrupted download. Delete it and "
        f"download it again (load_dataset downloads a missing torchvision dataset when online), or use an "
        f"embedded dataset that needs no network: {', '.join(EMBEDDED)}.")


_READ_ERRORS = (OSError, EOFError, zlib.error, pickle.UnpicklingError, ValueError, TypeError, KeyError,
                IndexError, AttributeError, ImportError, MemoryError)


def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (MNIST's format), plain or gzipped."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as exc:  # not gzip, truncated gzip, unreadable
        raise corrupt_file(path, f"{type(exc).__name__}: {exc}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise corrupt_file(path, "not an unsigned-byte IDX file")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise corrupt_file(path, "the IDX header is truncated")
    dims = np.frombuffer(data, dtype=">i4", count=ndim, offset=4)
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise corrupt_file(path, f"truncated: {arr.size} values where the header promises {int(np.prod(dims))}")
    return arr.reshape(*dims)


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


_MNIST_LIKE = {  # labkit name -> (torchvision class, folder, class names)
    "mnist": ("MNIST", "MNIST", [str(c) for c in range(10)]),
    "fashion-mnist": ("FashionMNIST", "FashionMNIST",
                      ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                       "Sneaker", "Bag", "Ankle boot"]),
    "kmnist": ("KMNIST", "KMNIST", ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]),
}


def _mnist_like(name: str, split: str, root: Path) -> Dataset:
    _, folder, classes = _MNIST_LIKE[name]
    raw = root / folder / "raw"
    prefix = "train" if split == "train" else "t10k"
    images, labels = _find(raw, f"{prefix}-images-idx3-ubyte"), _find(raw, f"{prefix}-labels-idx1-ubyte")
    if images is None or labels is None:
        return None
    x, y = _read_idx(images), _read_idx(labels)
    if x.ndim != 3:
        raise corrupt_file(images, f"expected (N, H, W) images, got shape {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise corrupt_file(labels, f"expected {len(x)} labels (one per image in {images.name}), got shape {y.shape}")
    if len(y) and int(y.max()) >= len(classes):
        raise corrupt_file(labels, f"labels must lie in 0..{len(classes) - 1}, got {int(y.max())}")
    return Dataset(x.astype(np.float32)[:, None] / 255.0, y.astype(np.int64), classes=classes, name=name)


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="bytes")


def _key(d: dict, name: str):
    return d[name.encode()] if name.encode() in d else d[name]


def _cifar(name: str, split: str, root: Path) -> Dataset | None:
    if name == "cifar10":
        folder = root / "cifar-10-batches-py"
        files = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        label_key, meta_file, names_key = "labels", "batches.meta", "label_names"
    else:
        folder = root / "cifar-100-python"
        files = ["train" if split == "train" else "test"]
        label_key, meta_file, names_key = "coarse_labels", "meta", "coarse_label_names"
    if not all((folder / f).is_file() for f in files):
        return None
    xs, ys = [], []
    for f in files:
        path = folder / f
        try:
            d = _unpickle(path)
            data, labels_ = np.asarray(_key(d, "data")), np.asarray(_key(d, label_key))
        except _READ_ERRORS as exc:  # truncated pickle, not a pickle, missing keys
            raise corrupt_file(path, f"{type(exc).__name__}: {exc}") from None
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise corrupt_file(path, f"CIFAR images must be uint8 rows of 3×32×32 = 3072 values, got "
                                     f"{data.dtype} of shape {data.shape}")
        if labels_.shape != (len(data),) or labels_.dtype.kind not in "iu":
            raise corrupt_file(path, f"expected {len(data)} integer labels, got {labels_.dtype} of shape {labels_.shape}")
        xs.append(data.reshape(-1, 3, 32, 32))
        ys.append(labels_.astype(np.int64))
    classes = None
    if (folder / meta_file).is_file():
        try:
            meta = _unpickle(folder / meta_file)
            classes = [c.decode() if isinstance(c, bytes) else str(c) for c in _key(meta, names_key)]
        except _READ_ERRORS as exc:
            raise corrupt_file(folder / meta_file, f"{type(exc).__name__}: {exc}") from None
    x = np.concatenate(xs).astype(np.float32) / 255.0
    y = np.concatenate(ys)
    k = len(classes) if classes is not None else (10 if name == "cifar10" else 20)
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= k):
        raise corrupt_file(folder, f"labels must lie in 0..{k - 1}, got {int(y.min())}..{int(y.max())}")
    return Dataset(x, y, classes=classes, name=name)


_NETWORK_DEADLINE = 15.0  # seconds for the whole reachability check: DNS lookup and connection together


def _hosts(cls) -> list[tuple[str, int]]:
    from urllib.parse import urlparse

    urls = list(getattr(cls, "mirrors", None) or []) + ([cls.url] if getattr(cls, "url", None) else [])
    out = []
    for url in urls:
        u = urlparse(url)
        if u.hostname:
            out.append((u.hostname, u.port or (443 if u.scheme == "https" else 80)))
    return list(dict.fromkeys(out))


def _check_network(hosts: list[tuple[str, int]], deadline: float) -> None:
    """Raise OSError unless one of ``hosts`` accepts a connection within ``deadline`` seconds.

    A socket timeout does not bound the DNS lookup (``getaddrinfo`` blocks as long as the resolver
    wants), so each probe runs in a daemon thread and the caller waits at most ``deadline`` for all.
    """
    if not hosts:
        return
    done, ok, errors = threading.Event(), [], []
    lock = threading.Lock()

    def probe(host, port):
        try:
            socket.create_connection((host, port), timeout=deadline).close()
            ok.append(host)
        except Exception as exc:  # noqa: BLE001 - any failure: this host is not reachable
            errors.append(f"{host}: {type(exc).__name__}: {exc}")
        with lock:
            if ok or len(errors) == len(hosts):
                done.set()

    for host, port in hosts:
        threading.Thread(target=probe, args=(host, port), daemon=True).start()
    done.wait(deadline)
    if ok:
        return
    if len(errors) == len(hosts):
        raise OSError("; ".join(errors))
    raise TimeoutError(f"no answer from {', '.join(h for h, _ in hosts)} within {deadline:g} s "
                       f"(DNS lookup and connection)")


def _torchvision_download(name: str, root: Path) -> None:
    """Fetch a dataset with torchvision, turning every failure into DatasetUnavailable at once.

    The network is checked first, bounded in time as a whole (:data:`_NETWORK_DEADLINE`), so an
    offline machine or a resolver that never answers fails in seconds instead of hanging.
    """
    import torchvision.datasets as tvd

    cls = getattr(tvd, {"cifar10": "CIFAR10", "cifar20": "CIFAR100",
                        **{k: v[0] for k, v in _MNIST_LIKE.items()}}[name])
    try:
        _check_network(_hosts(cls), _NETWORK_DEADLINE)
    except OSError as exc:
        raise DatasetUnavailable(_unavailable_message(name, root, exc)) from None
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(10)  # a stalled transfer fails instead of hanging
    try:
        for train in (True, False):
            cls(root=str(root), train=train, download=True)
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        raise DatasetUnavailable(_unavailable_message(name, root, exc)) from None
    finally:
        socket.setdefaulttimeout(old)


def _root(root) -> Path:
    """The data directory: ``root`` or :func:`labkit.config.data_dir`, as a usable directory."""
    import os

    try:
        path = Path(root) if root is not None else data_dir()
    except OSError as exc:  # LABKIT_DATA names a file, or the directory cannot be created
        raise DatasetUnavailable(
            f"the data directory cannot be used ({type(exc).__name__}: {exc}); LABKIT_DATA="
            f"{os.environ.get('LABKIT_DATA')!r} must name a directory (or be unset). Use an embedded dataset "
            f"that needs no network: {', '.join(EMBEDDED)}.") from None
    if path.exists() and not path.is_dir():
        raise DatasetUnavailable(f"root {path} is a file, not a directory; pass the folder that holds the "
                                 f"dataset (or unset root to use data_dir()).")
    return path


def _unavailable_message(name: str, root: Path, exc: Exception | None = None) -> str:
    why = f" ({type(exc).__name__}: {str(exc)[:200]})" if exc is not None else ""
    return (f"dataset {name!r} is not on disk under {root} and could not be downloaded{why}. "
            f"Put the torchvision-layout files there (or set LABKIT_DATA), or use an embedded "
            f"dataset that needs no network: {', '.join(EMBEDDED)}.")


def _downloadable(name: str) -> Callable[..., Dataset]:
    def load(split: str = "train", root: str | Path | None = None, download: bool = True) -> Dataset:
        download = boolean(download, "download")
        root_path = _root(root)
        reader = _mnist_like if name in _MNIST_LIKE else _cifar
        data = reader(name, split, root_path)
        if data is None and download:
            _torchvision_download(name, root_path)
            data = reader(name, split, root_path)
        if data is None:
            raise DatasetUnavailable(_unavailable_message(name, root_path))
        return data
    load.__name__ = f"load_{name.replace('-', '_')}"
    load.__doc__ = f"{name}, read from the torchvision layout under ``root`` (default data_dir())."
    return load


for _name in DOWNLOADABLE:
    _REGISTRY[_name] = _downloadable(_name)
