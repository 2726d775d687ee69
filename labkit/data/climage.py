"""Real-world complementary labels: the CLImage datasets CLCIFAR10, CLCIFAR20, CLMicroImageNet10/20.

Each training image was shown to three annotators with four random candidate labels; each chose
one label the image is NOT (Wang et al., arXiv 2305.08295; used by libcll). The published files are
pickles with keys ``names`` (class names), ``images`` (H×W×3 uint8 each), ``ord_labels`` (true
labels, for evaluation only) and ``cl_labels`` (three complementary labels per image). The test
splits hold ordinary labels: CIFAR-10's / CIFAR-20's standard test sets, and the
``clmicro_imagenet*_test.pkl`` files. labkit does not download them: place the files under
``data_dir()/climage`` (or pass ``root``). Offline, :func:`labkit.cll.simulate_annotators` imitates
the protocol on any dataset.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from .._validation import integer, one_of
from .datasets import Dataset, DatasetUnavailable, _REGISTRY, load_dataset
from .downloads import _READ_ERRORS, _root, corrupt_file

__all__ = ["CLDataset", "load_climage", "CLIMAGE"]

# name -> (training pickle, test source: a pickle name or a torchvision-layout dataset)
CLIMAGE = {
    "clcifar10": ("clcifar10.pkl", "cifar10"),
    "clcifar20": ("clcifar20.pkl", "cifar20"),
    "clmicro-imagenet10": ("clmicro_imagenet10_train.pkl", "clmicro_imagenet10_test.pkl"),
    "clmicro-imagenet20": ("clmicro_imagenet20_train.pkl", "clmicro_imagenet20_test.pkl"),
}


class CLDataset(Dataset):
    """Images with human complementary labels ``cl`` (N, annotators); ``y`` holds the TRUE labels,
    to be used for evaluation only."""

    per_example = ("cl",)


def _missing(name: str, path: Path) -> DatasetUnavailable:
    return DatasetUnavailable(
        f"{name}: {path} is missing. labkit does not download the CLImage files; put the published "
        f"pickle there (or pass root=...). Offline alternative: simulate the annotators on an embedded "
        f"dataset, e.g. run_cll(dataset='digits', transition='annotators') or "
        f"labkit.cll.simulate_annotators(y, num_classes).")


def _read(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            data = pickle.load(f)
    except _READ_ERRORS as exc:  # truncated or not a pickle
        raise corrupt_file(path, f"{type(exc).__name__}: {exc}") from None
    if not isinstance(data, dict) or not {"images", "ord_labels"} <= set(data):
        raise corrupt_file(path, "not a CLImage pickle: it needs the keys images, ord_labels, cl_labels")
    return data


def _images(raw, path: Path) -> torch.Tensor:
    try:
        arr = np.stack([np.asarray(im, dtype=np.uint8) for im in raw])
    except _READ_ERRORS as exc:  # images of different sizes, not numbers
        raise corrupt_file(path, f"its images do not stack into one array ({type(exc).__name__}: {exc})") from None
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3):
        raise corrupt_file(path, f"CLImage images must be H×W×C arrays, got stacked shape {arr.shape}")
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(255.0)


def _labels(raw, path: Path, what: str) -> torch.Tensor:
    try:
        arr = np.asarray(raw)
        if arr.dtype.kind not in "iu":
            raise ValueError(f"dtype {arr.dtype}")
    except _READ_ERRORS as exc:
        raise corrupt_file(path, f"its {what} are not integer labels ({exc})") from None
    return torch.as_tensor(arr).long()


def load_climage(name: str, split: str = "train", root: str | Path | None = None, num_cl: int = 3) -> Dataset:
    """Load a CLImage dataset: ``train`` is a :class:`CLDataset` with ``.cl`` (N, num_cl) human
    complementary labels; ``test`` is an ordinary labelled Dataset."""
    if not isinstance(name, str) or name not in CLIMAGE:
        raise ValueError(f"unknown CLImage dataset {name!r}; valid names: {', '.join(CLIMAGE)}")
    one_of(split, "split", ("train", "test"))
    num_cl = integer(num_cl, "num_cl", low=1, high=3, note="three annotators per image")
    folder = _root(root) if root is not None else _root(None) / "climage"
    train_file, test_source = CLIMAGE[name]
    if split == "test" and not test_source.endswith(".pkl"):
        return load_dataset(test_source, "test", root=root, download=root is None)
    path = folder / (train_file if split == "train" else test_source)
    if not path.is_file():
        raise _missing(name, path)
    data = _read(path)
    x, y = _images(data["images"], path), _labels(data["ord_labels"], path, "ord_labels").flatten()
    if len(y) != len(x):
        raise corrupt_file(path, f"{len(x)} images but {len(y)} ord_labels")
    classes = [str(c) for c in data["names"]] if "names" in data else None
    k = len(classes) if classes else None
    if len(y) and (int(y.min()) < 0 or (k is not None and int(y.max()) >= k)):
        raise corrupt_file(path, f"ord_labels outside 0..{(k or 0) - 1}")
    if split == "test":
        return Dataset(x, y, classes=classes, name=f"{name}-test")
    if "cl_labels" not in data:
        raise corrupt_file(path, "it has no cl_labels: it is not a CLImage training file")
    cl = _labels(data["cl_labels"], path, "cl_labels")
    if cl.numel() % max(len(y), 1):
        raise corrupt_file(path, f"{cl.numel()} cl_labels do not divide among {len(y)} images")
    cl = cl.reshape(len(y), -1)
    if cl.shape[1] < num_cl:
        raise ValueError(f"{path} has {cl.shape[1]} complementary labels per image; num_cl={num_cl} asks for more")
    k = k or int(max(y.max(), cl.max())) + 1
    if int(cl.min()) < 0 or int(cl.max()) >= k:
        raise corrupt_file(path, f"complementary labels outside 0..{k - 1}")
    out = CLDataset(x, y, classes=classes, name=name)
    out.cl = cl[:, :num_cl]
    return out


def _loader(name: str):
    def load(split: str = "train", root=None, num_cl: int = 3) -> Dataset:
        return load_climage(name, split, root=root, num_cl=num_cl)
    load.__doc__ = f"{name}: human complementary labels (CLImage); see labkit.data.climage."
    return load


for _name in CLIMAGE:
    _REGISTRY[_name] = _loader(_name)
