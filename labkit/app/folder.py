"""The saved-embeddings folder: what ``labkit cll|imbalanced|clip --save-embeddings DIR`` writes and
``labkit explore DIR`` opens.

``DIR`` holds one subfolder per run (configuration, seed); a run folder holds::

    embeddings.json   the manifest (below)
    features.npy      (N, D) float32: the learned features of the N test examples
    compare.npy       (N, D') float32, optional: a second embedding of the same examples (CLIP: the
                      reports' embeddings beside the images'), drawn side by side
    labels.npy        (N,) int64, optional: class index of each example (names in the manifest)
    meta.csv          optional: a header line, then one row per example (true, predicted, correct, ...)
    images.npy        (N, C, H, W), optional: thumbnails, uint8 (0-255) or float in [0, 1]
    texts.json        optional: a JSON list of N strings (e.g. reports), shown, hovered and searched

``embeddings.json``: ``{"format": "labkit-embeddings", "version": 1, "name": ..., "n": N,
"features": {"name": "features.npy"}, "compare": {"name": "compare.npy"} or null, "labels":
"labels.npy" or null, "classes": [...] or null, "meta": "meta.csv" or null, "images": ... or null,
"texts": ... or null, "run": {the configuration, "seed", the run's metrics}}``. Every file name is
relative to the run folder. Any tool can write such a folder (:func:`save_run`), and ``labkit
explore`` opens it, or a ``DIR`` of several runs of the same examples (one embedding per run).
No widget or plotting import here: the runners write with it, the app reads with it.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

__all__ = ["MANIFEST", "FORMAT", "as_images", "save_run", "run_name", "is_run", "find_runs", "read_manifest", "check_folder"]

MANIFEST = "embeddings.json"
FORMAT = "labkit-embeddings"
VERSION = 1


def _array(a, dtype=None) -> np.ndarray:
    from .._arrays import to_numpy  # imports torch: only when a run is written

    a = to_numpy(a)
    return a.astype(dtype) if dtype is not None else a


def as_images(a) -> np.ndarray | None:
    """``a`` as thumbnails (N, C, H, W) with C in 1, 3, 4, or None when it is not images: from (N, C, H, W),
    (N, H, W, C) or (N, H, W) numbers; uint8 is kept, finite floats become float32 in [0, 1] (stretched
    min-max when outside it, e.g. standardised or 0-255). The one rule of what ``--save-embeddings``
    writes and what ``labkit explore`` reads."""
    a = _array(a)
    if a.dtype.kind not in "biuf":
        return None
    if a.ndim == 4 and a.shape[-1] in (1, 3, 4) and a.shape[1] not in (1, 3, 4):
        a = a.transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    if a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4 or a.shape[1] not in (1, 3, 4):
        return None
    if a.dtype == np.uint8:
        return a
    a = a.astype(np.float32)
    if not np.isfinite(a).all():
        return None
    low, high = (float(a.min()), float(a.max())) if a.size else (0.0, 1.0)
    return a if 0 <= low and high <= 1 else (a - low) / max(high - low, 1e-12)


def run_name(experiment: str, row: Mapping, seed: int, keys: Sequence[str] = ()) -> str:
    """A folder name for one run: the story, the named configuration fields, the seed and a short
    hash of the whole configuration (so two configurations never share a folder)."""
    digest = hashlib.sha1(json.dumps({**row, "seed": seed}, sort_keys=True, default=str).encode()).hexdigest()[:8]
    parts = [experiment, *(str(row.get(k)) for k in keys), f"seed{seed}", digest]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(parts))


def _jsonable(v):
    if isinstance(v, (np.generic,)):
        return v.item()
    if hasattr(v, "tolist"):
        return v.tolist()
    return str(v)


def save_run(folder, name: str, features, *, labels=None, classes: Sequence[str] | None = None,
             meta: Mapping[str, Sequence] | None = None, images=None, texts: Sequence[str] | None = None,
             compare: tuple[str, object] | None = None, features_name: str = "features",
             run: Mapping | None = None) -> Path:
    """Write one run folder ``folder/name`` in the format of the module docstring; returns its path.

    ``features`` (N, D), or name -> (N, D) for several embeddings of the same examples; ``labels`` (N,) class indices into ``classes``; ``meta`` column name -> N
    values; ``images`` (N, C, H, W) in [0, 1] (stored as uint8 thumbnails); ``texts`` N strings;
    ``compare`` (name, (N, D')) or {name: (N, D')} a second embedding; ``run`` the configuration, seed and metrics.
    """
    spaces = dict(features) if isinstance(features, Mapping) else {features_name: features}
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    # written whole into a hidden sibling, manifest last, then renamed into place: a reader never sees
    # a manifest naming half-written files, and nothing of an earlier run of the same name is left
    tmp = path.parent / f".{name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    old = None
    try:
        _write_run(tmp, name, spaces, labels, classes, meta, images, texts, compare, run)
        if path.exists():
            old = path.parent / f".{name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(path, old)
        os.replace(tmp, path)
    except BaseException:
        if old is not None and old.exists() and not path.exists():
            os.replace(old, path)  # the earlier run stays as it was
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return path


def _write_run(path: Path, name, spaces, labels, classes, meta, images, texts, compare, run) -> None:
    manifest = {"format": FORMAT, "version": VERSION, "name": name, "n": None, "features": {}, "compare": None,
                "labels": None, "classes": None, "meta": None, "images": None, "texts": None, "run": dict(run or {})}
    for i, (space, x) in enumerate(spaces.items()):
        x = _array(x, np.float32)
        manifest["n"] = n = len(x)
        file = "features.npy" if i == 0 else f"features-{i}.npy"
        np.save(path / file, x.reshape(n, -1))
        manifest["features"][str(space)] = file
    if compare is not None:
        cname, cx = next(iter(compare.items())) if isinstance(compare, Mapping) else compare
        np.save(path / "compare.npy", _array(cx, np.float32).reshape(n, -1))
        manifest["compare"] = {str(cname): "compare.npy"}
    if labels is not None:
        np.save(path / "labels.npy", _array(labels, np.int64).reshape(-1))
        manifest["labels"] = "labels.npy"
        manifest["classes"] = [str(c) for c in classes] if classes is not None else None
    if meta:
        columns = {str(k): [str(v) for v in _array(col).reshape(-1).tolist()] for k, col in meta.items()}
        with open(path / "meta.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(list(columns))
            writer.writerows(zip(*columns.values()))
        manifest["meta"] = "meta.csv"
    if images is not None:
        img = _array(images)
        if img.dtype != np.uint8:
            img = (np.clip(img.astype(np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)
        np.save(path / "images.npy", img)
        manifest["images"] = "images.npy"
    if texts is not None:
        (path / "texts.json").write_text(json.dumps([str(t) for t in texts]))
        manifest["texts"] = "texts.json"
    (path / MANIFEST).write_text(json.dumps(manifest, indent=1, default=_jsonable))


def is_run(path) -> bool:
    """Whether ``path`` is a run folder (it holds a manifest)."""
    return (Path(path) / MANIFEST).is_file()


def find_runs(path) -> list[Path]:
    """The run folders of ``path``: itself if it is one, else its subfolders that are (sorted)."""
    path = Path(path)
    if is_run(path):
        return [path]
    return sorted(p for p in path.iterdir()  # hidden ones are save_run's half-written or replaced folders
                  if p.is_dir() and not p.name.startswith(".") and is_run(p)) if path.is_dir() else []


def read_manifest(path) -> dict:
    """The manifest of run folder ``path``, checked (ValueError naming the file when it is not one)."""
    file = Path(path) / MANIFEST
    try:
        manifest = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{file} is not a readable manifest ({type(exc).__name__}: {exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{file} is not a {FORMAT} manifest (its 'format' must be {FORMAT!r})")
    version = manifest.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError(f"{file} has a 'version' of {version!r}; it must be a whole number")
    if version > VERSION:
        raise ValueError(f"{file} has format version {version}; this labkit reads up to {VERSION}")
    if not isinstance(manifest.get("features"), dict) or not manifest["features"]:
        raise ValueError(f"{file} names no features file ('features': {{name: file}})")
    for key in ("features", "compare"):
        files = manifest.get(key) or {}
        if not isinstance(files, dict) or not all(isinstance(v, str) and v for v in files.values()):
            raise ValueError(f"{file}: {key!r} must map names to file names (strings)")
    for key in ("labels", "meta", "images", "texts"):
        if manifest.get(key) is not None and not (isinstance(manifest[key], str) and manifest[key]):
            raise ValueError(f"{file}: {key!r} must be a file name (a string) or null, got {manifest[key]!r}")
    classes = manifest.get("classes")
    if classes is not None and not isinstance(classes, list):
        raise ValueError(f"{file}: 'classes' must be a list of class names or null")
    return manifest


def check_folder(folder) -> Path:
    """Check BEFORE any training that run folders can be written under ``folder`` (not a file, and the
    folder or its first existing ancestor writable); ValueError naming the problem."""
    import os

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--save-embeddings {str(folder)!r} is a file; give a folder")
    parent = folder
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"--save-embeddings {str(folder)!r} cannot be created: {str(parent)!r} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"--save-embeddings {str(folder)!r} cannot be written: no write permission in "
                         f"{str(parent)!r}")
    return folder
