"""Labelled datasets as tensors: the container, the embedded datasets, and the downloadable ones.

Embedded (no network): ``digits`` (scikit-learn's 8x8 handwritten digits), ``blobs`` and ``moons``
(2-D toys). Downloadable through torchvision, cached under :func:`labkit.config.data_dir`:
``mnist``, ``fashion-mnist``, ``kmnist``, ``cifar10``, ``cifar20`` (CIFAR-100's 20 superclasses).
Taught in notebooks/00_tour.ipynb.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from .._validation import (MAX_CLASSES, finite_tensor, function, integer, labels, non_negative, one_of,
                           open_fraction, positive, registry_name, seed as check_seed)

__all__ = ["Dataset", "DatasetUnavailable", "from_arrays", "load_dataset", "list_datasets"]


class DatasetUnavailable(RuntimeError):
    """A dataset that needs a download could not be had (offline, or the files are missing)."""


def _as_tensor(a, dtype) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a.detach().to(dtype)
    return torch.as_tensor(np.asarray(a), dtype=dtype)


class Dataset:
    """Examples ``x`` (float tensor, first dimension N) with labels ``y`` (long tensor, 0..K-1).

    Indexing returns ``(x[i], y[i])``, so it also works with ``torch.utils.data.DataLoader``; labkit
    itself feeds it through :class:`labkit.data.DeviceLoader`.

    Subclasses with more per-example data (reports, findings, complementary labels) list those
    attribute names in ``per_example``; :meth:`subset` indexes them too.
    """

    per_example: tuple[str, ...] = ()

    def __init__(self, x, y, classes: Sequence[str] | None = None, name: str | None = None):
        try:
            x = _as_tensor(x, torch.float32)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ValueError(f"x must be numbers (an array or tensor), got {type(x).__name__}: {exc}") from None
        if x.ndim == 0:
            raise ValueError("x must hold one example per row, got a single number")
        finite_tensor(x, "x")
        if classes is not None:
            if isinstance(classes, (str, bytes)):
                raise ValueError(f"classes must be a sequence of class names, got the string {classes!r}")
            classes = [str(c) for c in classes]
            if not 1 <= len(classes) <= MAX_CLASSES:
                raise ValueError(f"classes must name 1..{MAX_CLASSES} classes, got {len(classes)}")
        y = labels(y, "y", len(classes) if classes is not None else None)
        if len(x) != len(y):
            raise ValueError(f"x and y have different lengths: {len(x)} examples, {len(y)} labels")
        if len(y) == 0:
            raise ValueError("the dataset is empty: x and y have no examples")
        if classes is None:
            classes = [str(c) for c in range(int(y.max()) + 1)]
        self.x, self.y, self.classes, self.name = x, y.to(x.device), classes, name or "data"

    # -- the container
    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, n={len(self)}, x={tuple(self.x.shape[1:])}, "
                f"classes={self.num_classes}, device={self.x.device})")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_shape(self) -> tuple[int, ...]:
        """Shape of one example, e.g. ``(1, 8, 8)``; what :func:`labkit.build_model` needs."""
        return tuple(self.x.shape[1:])

    @property
    def device(self) -> torch.device:
        return self.x.device

    def _new(self, x, y) -> "Dataset":
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__)
        out.x, out.y = x, y
        return out

    def subset(self, indices) -> "Dataset":
        """The examples at ``indices`` (a sequence, tensor or boolean mask), same class names."""
        kind = indices.dtype if isinstance(indices, torch.Tensor) else np.asarray(indices).dtype
        floating = kind.is_floating_point if isinstance(kind, torch.dtype) else kind.kind == "f"
        if floating and len(indices):
            raise ValueError("indices must be integer positions or a boolean mask, got floats "
                             "(a position like 0.7 is refused, not truncated)")
        idx = _as_tensor(indices, torch.bool if _is_mask(indices) else torch.long).to(self.x.device)
        if idx.dtype == torch.bool and idx.shape != (len(self),):
            raise ValueError(f"a boolean mask must have one entry per example ({len(self)}), got shape "
                             f"{tuple(idx.shape)}")
        if idx.dtype == torch.long and len(idx) and (int(idx.min()) < -len(self) or int(idx.max()) >= len(self)):
            raise ValueError(f"indices must lie in 0..{len(self) - 1}")
        out = self._new(self.x[idx], self.y[idx])
        if len(out) == 0:
            raise ValueError("the subset is empty: indices select no example")
        positions = torch.arange(len(self))[idx.cpu()].tolist()
        for attr in self.per_example:
            value = getattr(self, attr)
            if isinstance(value, torch.Tensor):
                setattr(out, attr, value[idx.to(value.device)])
            elif isinstance(value, np.ndarray):
                setattr(out, attr, value[positions])
            else:
                setattr(out, attr, [value[i] for i in positions])
        return out

    def class_counts(self) -> torch.Tensor:
        """Number of examples of each class, a long tensor of length ``num_classes``."""
        return torch.bincount(self.y.cpu(), minlength=self.num_classes)

    def to(self, device) -> "Dataset":
        """The same data on ``device`` (a copy only when the device differs)."""
        device = torch.device(device)
        if self.x.device == device:
            return self
        return self._new(self.x.to(device), self.y.to(device))

    def split(self, fraction: float, *, seed: int = 0, stratify: bool = True) -> tuple["Dataset", "Dataset"]:
        """Split into ``(rest, held_out)`` with about ``fraction`` of each class held out.

        Used for validation splits; deterministic under ``seed``.
        """
        fraction = open_fraction(fraction, "fraction", note="both parts must be non-empty")
        g = torch.Generator().manual_seed(integer(seed, "seed"))
        y = self.y.cpu()
        held = torch.zeros(len(y), dtype=torch.bool)
        groups = [torch.nonzero(y == c).flatten() for c in range(self.num_classes)] if stratify \
            else [torch.arange(len(y))]
        for members in groups:
            n_out = int(round(fraction * len(members)))
            if len(members) > 1:
                n_out = min(max(n_out, 1), len(members) - 1)
            else:
                n_out = 0
            held[members[torch.randperm(len(members), generator=g)[:n_out]]] = True
        if held.all() or not held.any():
            raise ValueError(f"cannot split {len(self)} examples with fraction {fraction}")
        return self.subset(~held), self.subset(held)


def _is_mask(indices) -> bool:
    if isinstance(indices, torch.Tensor):
        return indices.dtype == torch.bool
    return np.asarray(indices).dtype == bool


def from_arrays(x, y, classes: Sequence[str] | None = None, name: str | None = None) -> Dataset:
    """A :class:`Dataset` from NumPy arrays or tensors (your own data).

    ``x``: one example per row (any trailing shape), converted to float32; ``y``: integer labels
    0..K-1. ``classes`` names the K classes (default ``"0"``, ``"1"``, ...).
    """
    return Dataset(x, y, classes=classes, name=name or "arrays")


# ---------------------------------------------------------------------------- embedded datasets

def _check_split(split: str) -> None:
    one_of(split, "split", ("train", "test"))


def _digits(split: str = "train", test_fraction: float = 0.25) -> Dataset:
    """scikit-learn's 1,797 handwritten digits, 1x8x8 in [0, 1], a fixed stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    idx_train, idx_test = train_test_split(
        np.arange(len(x)), test_size=test_fraction, stratify=d.target, random_state=0)
    idx = idx_train if split == "train" else idx_test
    return Dataset(x[idx], d.target[idx], classes=[str(c) for c in range(10)], name="digits")


def _toy_split(x, y, split, seed, name, num_classes, n_train):
    # One generated set, split so train and test come from the same distribution.
    perm = np.random.default_rng(seed).permutation(len(y))
    cut = n_train
    idx = perm[:cut] if split == "train" else perm[cut:]
    return Dataset(x[idx].astype(np.float32), y[idx], classes=[f"class {c}" for c in range(num_classes)],
                   name=name)


def _blobs(split: str = "train", num_classes: int = 3, n: int = 1000, noise: float = 1.0,
           seed: int = 0) -> Dataset:
    """Gaussian blobs in 2-D: class centres evenly on a circle of radius 4, std ``noise``.

    ``n`` is the size of the training split (the test split has n/3 more from the same law).
    """
    num_classes = integer(num_classes, "num_classes", low=2, note="blobs")
    n = integer(n, "n", low=num_classes, note="blobs: at least one example per class")
    noise = positive(noise, "noise", note="the blobs' standard deviation")
    seed = check_seed(seed, allow_none=False)
    rng = np.random.default_rng(seed)
    total = n + n // 3
    y = np.arange(total) % num_classes
    angle = 2 * np.pi * np.arange(num_classes) / num_classes
    centres = 4.0 * np.stack([np.cos(angle), np.sin(angle)], 1)
    x = centres[y] + noise * rng.standard_normal((total, 2))
    return _toy_split(x, y, split, seed, "blobs", num_classes, n)


def _moons(split: str = "train", num_classes: int = 2, n: int = 1000, noise: float = 0.1,
           seed: int = 0) -> Dataset:
    """scikit-learn's two interleaving half circles in 2-D (two classes only).

    ``n`` is the size of the training split (the test split has n/3 more from the same law).
    """
    from sklearn.datasets import make_moons

    if num_classes != 2:
        raise ValueError(f"moons has exactly 2 classes, got num_classes={num_classes}; use 'blobs'")
    n = integer(n, "n", low=2, note="moons")
    noise = non_negative(noise, "noise", note="the moons' standard deviation")
    seed = check_seed(seed, allow_none=False)
    x, y = make_moons(n + n // 3, noise=noise, random_state=seed)
    return _toy_split(x, y, split, seed, "moons", 2, n)


EMBEDDED = ("digits", "blobs", "moons")


_REGISTRY: dict[str, Callable[..., Dataset]] = {
    "digits": _digits,
    "blobs": _blobs,
    "moons": _moons,
    # mnist, fashion-mnist, kmnist, cifar10, cifar20: added by labkit.data.downloads
}


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset` (the first three are embedded and need no network)."""
    return list(_REGISTRY)


def register_dataset(name: str, loader: Callable[..., Dataset], *, overwrite: bool = False) -> None:
    """Add a loader ``loader(split="train", **kw) -> Dataset`` under a lower-case hyphenated name,
    so that :func:`load_dataset` loads it and :func:`list_datasets` lists it.

    A name already taken raises ValueError unless ``overwrite=True``.
    """
    registry_name(name, "dataset", _REGISTRY, overwrite=overwrite)
    _REGISTRY[name] = function(loader, "loader", note="loader(split='train', **options) -> Dataset")


def load_dataset(name: str, split: str = "train", **kw) -> Dataset:
    """Load a dataset by name: ``load_dataset("digits", "test")``, ``load_dataset("blobs", n=500)``.

    Unknown names raise ValueError listing the valid ones; a downloadable dataset that cannot be
    had raises :class:`DatasetUnavailable` naming the embedded alternatives.
    """
    if not isinstance(name, str) or name.lower() not in _REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(_REGISTRY)}")
    _check_split(split)
    try:
        return _REGISTRY[name.lower()](split=split, **kw)
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise ValueError(f"dataset {name!r} does not take these options: {exc}") from None
        raise
