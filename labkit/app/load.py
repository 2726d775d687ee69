"""Reading a user's embeddings for ``labkit explore``, with every check made before a server starts.

Features: ``.npy`` (an (N, D) array, or (N, ...) flattened), ``.pt`` (a tensor, or a dict holding
one under ``features`` or ``embeddings``), ``.csv`` (N rows of D numbers, an optional header line),
or a folder in the saved-embeddings format (:mod:`labkit.app.folder`): one run, or several runs of
the same examples (one embedding per run). Labels: ``.npy``/``.pt`` (integers or strings), ``.txt``
(one per line) or ``.csv`` (the first column, an optional header); metadata: a ``.csv`` with a header
line; images: a ``.npy`` array (N, C, H, W), (N, H, W, C) or (N, H, W), or a folder of N image files
(sorted by name); texts: ``.txt`` (one per line) or ``.json`` (a list of strings).

Anything wrong (a file that cannot be read, a wrong format, lengths that differ, NaN or infinite
features) raises :class:`InputError` with one line saying what and where.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import folder as saved

__all__ = ["InputError", "Bundle", "load_inputs", "read_folder", "IMAGE_SUFFIXES", "THUMBNAIL"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
THUMBNAIL = 64  # images from a folder are kept as THUMBNAIL×THUMBNAIL thumbnails (the panel shows ≤ 96 px)


class InputError(ValueError):
    """A file given to ``labkit explore`` cannot be used (the message says which and why)."""


@dataclass
class Bundle:
    """Everything the explorer shows: embeddings of the same N examples and what is known of them."""

    features: dict = field(default_factory=dict)  # name -> (N, D) float32
    compare: dict = field(default_factory=dict)  # name -> (N, D') float32 (at most one)
    labels: np.ndarray | None = None  # (N,) class index
    classes: list | None = None
    meta: dict = field(default_factory=dict)  # column -> (N,) float or str values
    images: np.ndarray | None = None  # (N, C, H, W) uint8 or float in [0, 1]
    texts: list | None = None
    sources: dict = field(default_factory=dict)  # what -> file, for messages

    @property
    def n(self) -> int:
        return len(next(iter(self.features.values())))

    def explorer_kwargs(self) -> dict:
        """Keyword arguments of :class:`labkit.explorer.EmbeddingExplorer` (or ``embedding_explorer``)."""
        return dict(features=self.features, compare=self.compare or None, labels=self.labels, classes=self.classes,
                    meta=self.meta or None, images=self.images, texts=self.texts)


def _name(path: Path) -> str:
    return str(path)


def _exists(path, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} file {_name(path)} does not exist")
    return path


def _numeric(a: np.ndarray, path: Path, what: str) -> np.ndarray:
    if a.dtype.kind not in "biuf":
        raise InputError(f"{what} {_name(path)} must hold numbers, got {a.dtype} values")
    return a


def _load_npy(path: Path, what: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):  # object arrays need pickle: refused, as loading them can run code
            raise InputError(f"{what} {_name(path)} holds Python objects, not a plain .npy array of numbers or "
                             f"strings") from None
        raise InputError(f"{what} {_name(path)} is not a readable .npy file ({' '.join(str(exc).split())})") from None
    except (OSError, EOFError) as exc:
        raise InputError(f"{what} {_name(path)} is not a readable .npy file ({type(exc).__name__})") from None


def _load_pt(path: Path, what: str, keys=("features", "embeddings")) -> np.ndarray:
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise InputError(f"{what} {_name(path)} is not a readable .pt file ({type(exc).__name__})") from None
    if isinstance(obj, dict):
        found = [k for k in keys if isinstance(obj.get(k), torch.Tensor)]
        tensors = [k for k, v in obj.items() if isinstance(v, torch.Tensor)]
        if not found and len(tensors) != 1:
            raise InputError(f"{what} {_name(path)} holds a dict without a tensor under "
                             f"{' or '.join(map(repr, keys))} (keys: {', '.join(map(str, obj))})")
        obj = obj[found[0] if found else tensors[0]]
    if isinstance(obj, (list, tuple)) and all(isinstance(v, str) for v in obj):
        return np.asarray(obj, dtype=object)
    if not isinstance(obj, torch.Tensor):
        raise InputError(f"{what} {_name(path)} holds a {type(obj).__name__}, not a tensor")
    return obj.detach().float().numpy() if obj.is_floating_point() else obj.numpy()


def _read_csv(path: Path, what: str) -> list[list[str]]:
    try:
        with open(path, newline="") as f:
            rows = [row for row in csv.reader(f) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{what} {_name(path)} is not a readable CSV file ({type(exc).__name__})") from None
    if not rows:
        raise InputError(f"{what} {_name(path)} is empty")
    return rows


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _numeric_csv(path: Path, what: str) -> np.ndarray:
    rows = _read_csv(path, what)
    if not all(_is_number(c) for c in rows[0]):
        rows = rows[1:]  # a header line
    if not rows:
        raise InputError(f"{what} {_name(path)} has a header but no rows")
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise InputError(f"{what} {_name(path)} has rows of different lengths ({sorted(widths)[:4]} values)")
    try:
        return np.asarray(rows, dtype=np.float32)
    except ValueError:
        bad = next(c for r in rows for c in r if not _is_number(c))
        raise InputError(f"{what} {_name(path)} must hold numbers only, found {bad[:40]!r}") from None


def load_array(path, what: str = "features") -> np.ndarray:
    """An array from ``.npy``, ``.pt`` or ``.csv`` (see the module docstring)."""
    path = _exists(path, what)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _load_npy(path, what)
    if suffix in (".pt", ".pth"):
        return _load_pt(path, what)
    if suffix == ".csv":
        return _numeric_csv(path, what)
    raise InputError(f"{what} {_name(path)}: unknown format {suffix or '(no suffix)'}; use .npy, .pt, .csv or a "
                     f"folder written by --save-embeddings")


def _features(a: np.ndarray, path: Path, what: str = "features") -> np.ndarray:
    a = _numeric(np.asarray(a), path, what)
    if a.ndim < 2:
        raise InputError(f"{what} {_name(path)} must be (N, D) (one row per example), got shape {a.shape}")
    a = a.reshape(len(a), -1).astype(np.float32, copy=False)
    if len(a) < 3:
        raise InputError(f"{what} {_name(path)} holds {len(a)} examples; the explorer needs at least 3")
    bad = ~np.isfinite(a).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise InputError(f"{what} {_name(path)} has NaN or infinite values in {len(rows)} rows "
                         f"(first: row {rows[0]}); remove or fix them")
    return a


def _check_length(n: int, count: int, what: str, path, features) -> None:
    if count != n:
        raise InputError(f"{what} {_name(Path(path))} has {count} entries but the features {features} hold "
                         f"{n} examples: they must match one to one")


def _labels(path) -> tuple[np.ndarray, list[str]]:
    path = _exists(path, "labels")
    suffix = path.suffix.lower()
    if suffix == ".txt":
        try:
            values = np.asarray([line.strip() for line in path.read_text().splitlines() if line.strip()], dtype=object)
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"labels {_name(path)} is not a readable text file ({type(exc).__name__})") from None
    elif suffix == ".csv":
        rows = _read_csv(path, "labels")
        if not _is_number(rows[0][0]) and len(rows) > 1 and all(_is_number(r[0]) for r in rows[1:]):
            rows = rows[1:]
        values = np.asarray([r[0] for r in rows], dtype=object)
    else:
        values = load_array(path, "labels")
    values = np.asarray(values).reshape(-1) if np.asarray(values).ndim <= 1 else None
    if values is None:
        raise InputError(f"labels {_name(path)} must hold one label per example (a 1-D array)")
    if values.dtype.kind == "f":
        if not np.isfinite(values).all() or (values != np.round(values)).any():
            raise InputError(f"labels {_name(path)} must be whole numbers or names, found fractional or NaN values")
        values = values.astype(np.int64)
    if values.dtype == object and all(_is_number(str(v)) and float(v) == int(float(v)) for v in values):
        values = np.asarray([int(float(v)) for v in values], dtype=np.int64)
    uniq, codes = np.unique(values.astype(str) if values.dtype == object else values, return_inverse=True)
    return codes.astype(np.int64), [str(u) for u in uniq]


def _meta(path) -> dict:
    path = _exists(path, "metadata")
    if path.suffix.lower() != ".csv":
        raise InputError(f"metadata {_name(path)} must be a .csv file with a header line")
    rows = _read_csv(path, "metadata")
    header, body = rows[0], rows[1:]
    if len(set(header)) != len(header) or not all(h.strip() for h in header):
        raise InputError(f"metadata {_name(path)} needs a header line of distinct, non-empty column names")
    for i, r in enumerate(body):
        if len(r) != len(header):
            raise InputError(f"metadata {_name(path)} line {i + 2} has {len(r)} values for {len(header)} columns")
    columns = {}
    for j, name in enumerate(header):
        cells = [r[j] for r in body]
        if cells and all(c.strip() and _is_number(c) for c in cells):
            columns[name.strip()] = np.asarray(cells, dtype=np.float64)
        else:
            columns[name.strip()] = np.asarray(cells, dtype=object)
    return columns


def _images(path) -> np.ndarray:
    path = _exists(path, "images")
    if path.is_dir():
        return _image_folder(path)
    a = load_array(path, "images")
    a = _numeric(np.asarray(a), path, "images")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise InputError(f"images {_name(path)} has NaN or infinite values")
    images = saved.as_images(a)  # the rule --save-embeddings writes by
    if images is None:
        raise InputError(f"images {_name(path)} must be (N, C, H, W), (N, H, W, C) or (N, H, W) with C in 1, 3, 4, "
                         f"got {a.shape}")
    return images


def _image_folder(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"images folder {_name(path)} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    out = np.zeros((len(files), 3, THUMBNAIL, THUMBNAIL), dtype=np.uint8)
    for i, file in enumerate(files):
        try:
            with Image.open(file) as img:
                img = img.convert("RGB")
                img.thumbnail((THUMBNAIL, THUMBNAIL))
        except (OSError, UnidentifiedImageError):
            raise InputError(f"image {_name(file)} cannot be read") from None
        a = np.asarray(img).transpose(2, 0, 1)
        top, left = (THUMBNAIL - a.shape[1]) // 2, (THUMBNAIL - a.shape[2]) // 2
        out[i, :, top:top + a.shape[1], left:left + a.shape[2]] = a
    return out


def _texts(path) -> list[str]:
    path = _exists(path, "texts")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"texts {_name(path)} is not a readable text file ({type(exc).__name__})") from None
    if path.suffix.lower() == ".json":
        try:
            values = json.loads(text)
        except ValueError:
            raise InputError(f"texts {_name(path)} is not valid JSON (expected a list of strings)") from None
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InputError(f"texts {_name(path)} must be a JSON list of strings")
        return values
    if path.suffix.lower() != ".txt":
        raise InputError(f"texts {_name(path)} must be .txt (one text per line) or .json (a list of strings)")
    return text.splitlines()


# ------------------------------------------------------------------ saved-embeddings folders

def _member(run: Path, manifest: dict, key: str):
    file = manifest.get(key)
    return None if not file else run / file


def _read_run(run: Path) -> Bundle:
    """One run folder (see :mod:`labkit.app.folder`) as a Bundle, every file checked."""
    try:
        manifest = saved.read_manifest(run)
    except ValueError as exc:  # a truncated or wrong manifest: one line naming it, exit 2
        raise InputError(str(exc)) from None
    b = Bundle(sources={"features": str(run)})
    for name, file in manifest["features"].items():
        b.features[str(name)] = _features(load_array(run / file), run / file)
    for name, file in (manifest.get("compare") or {}).items():
        b.compare[str(name)] = _features(load_array(run / file), run / file, "compare")
    n = b.n
    if _member(run, manifest, "labels") is not None:
        path = _member(run, manifest, "labels")
        codes = _numeric(load_array(path, "labels"), path, "labels").reshape(-1).astype(np.int64)
        _check_length(n, len(codes), "labels", path, run)
        classes = manifest.get("classes")
        if classes is None:
            b.labels, b.classes = np.unique(codes, return_inverse=True)[1], [str(c) for c in np.unique(codes)]
        else:
            if len(codes) and (codes.min() < 0 or codes.max() >= len(classes)):
                raise InputError(f"labels {path} must index the manifest's {len(classes)} classes")
            b.labels, b.classes = codes, [str(c) for c in classes]
    if _member(run, manifest, "meta") is not None:
        b.meta = _meta(_member(run, manifest, "meta"))
        for col in b.meta.values():
            _check_length(n, len(col), "metadata", _member(run, manifest, "meta"), run)
    if _member(run, manifest, "images") is not None:
        b.images = _images(_member(run, manifest, "images"))
        _check_length(n, len(b.images), "images", _member(run, manifest, "images"), run)
    if _member(run, manifest, "texts") is not None:
        b.texts = _texts(_member(run, manifest, "texts"))
        _check_length(n, len(b.texts), "texts", _member(run, manifest, "texts"), run)
    return b


def read_folder(path) -> Bundle:
    """A run folder, or a folder of runs of the same examples: one embedding per run (named after
    it; a run's compare embedding is one more, ``run: name``); metadata columns that differ between
    runs are named ``run: column``."""
    path = Path(path)
    runs = saved.find_runs(path)
    if not runs:
        raise InputError(f"folder {path} holds no {saved.MANIFEST} (a run written by --save-embeddings), "
                         f"nor subfolders that do")
    bundles = [_read_run(r) for r in runs]
    if len(bundles) == 1:
        return bundles[0]
    first = bundles[0]
    for run, b in zip(runs[1:], bundles[1:]):
        same = b.n == first.n and (b.labels is None or first.labels is None
                                   or (np.array_equal(b.labels, first.labels) and b.classes == first.classes))
        if not same:
            raise InputError(f"the runs in {path} do not hold the same examples ({runs[0].name}: {first.n}, "
                             f"{run.name}: {b.n}); open one of them, e.g. labkit explore {run}")
    merged = Bundle(labels=first.labels, classes=first.classes, images=first.images, texts=first.texts,
                    sources={"features": str(path)})
    for run, b in zip(runs, bundles):
        for name, x in b.features.items():
            merged.features[run.name if len(b.features) == 1 else f"{run.name}: {name}"] = x
        for name, x in b.compare.items():  # e.g. CLIP's reports: another embedding in the dropdown
            merged.features[f"{run.name}: {name}"] = x
    names = {k for b in bundles for k in b.meta}
    for key in sorted(names, key=lambda k: next(i for i, b in enumerate(bundles) if k in b.meta)):
        cols = [b.meta.get(key) for b in bundles]
        if all(c is not None for c in cols) and all(np.array_equal(cols[0], c) for c in cols[1:]):
            merged.meta[key] = cols[0]
        else:
            merged.meta.update({f"{run.name}: {key}": c for run, c in zip(runs, cols) if c is not None})
    return merged


# ------------------------------------------------------------------ the command's inputs

def load_inputs(features, *, labels=None, meta=None, images=None, texts=None, compare=None,
                max_points: int = 70_000) -> Bundle:
    """Read and check everything ``labkit explore`` was given (see the module docstring).

    Files given beside a saved folder add to (or replace) what the folder holds. Raises
    :class:`InputError` for the first problem found."""
    fpath = _exists(features, "features")
    if fpath.is_dir():
        b = read_folder(fpath)
    else:
        b = Bundle(features={fpath.stem: _features(load_array(fpath), fpath)}, sources={"features": str(fpath)})
    n = b.n
    if n > max_points:
        raise InputError(f"features {fpath} hold {n} examples; the explorer draws at most {max_points:,}: "
                         f"pass a subset")
    if compare is not None:
        cpath = _exists(compare, "compare")
        other = read_folder(cpath).features if cpath.is_dir() else {cpath.stem: load_array(cpath, "compare")}
        name, x = next(iter(other.items()))
        x = _features(x, cpath, "compare")
        _check_length(n, len(x), "compare", cpath, fpath)
        b.compare = {name if name not in b.features else f"{name} (compare)": x}
    if labels is not None:
        codes, classes = _labels(labels)
        _check_length(n, len(codes), "labels", labels, fpath)
        b.labels, b.classes = codes, classes
    if meta is not None:
        columns = _meta(meta)
        for col in columns.values():
            _check_length(n, len(col), "metadata", meta, fpath)
            break
        b.meta.update(columns)
    if images is not None:
        b.images = _images(images)
        _check_length(n, len(b.images), "images folder" if Path(images).is_dir() else "images", images, fpath)
    if texts is not None:
        b.texts = _texts(texts)
        _check_length(n, len(b.texts), "texts", texts, fpath)
    for name, x in b.features.items():
        for other_name, y in b.features.items():
            if len(y) != len(x):
                raise InputError(f"embeddings {name!r} and {other_name!r} hold different numbers of examples")
    return b
