"""Reading a folder of image-report pairs for :func:`labkit.data.load_paired_folder`: the CSV
(UTF-8, a header line, one row per pair), the labels (class names or integers, none empty) and
the images (PNG, JPEG or ``.npy``, every pixel finite). Each error is a ValueError the caller
prefixes with the CSV line.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from .._validation import MAX_CLASSES

__all__ = ["read_image", "read_table", "read_labels"]


def read_image(path: Path, image_size: int | None) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        try:
            a = np.load(path, allow_pickle=False)
        except Exception as exc:  # noqa: BLE001 - 0-byte, truncated, a pickle: say which file
            raise ValueError(f"{path.name} is not a readable .npy array ({type(exc).__name__}: {exc})") from None
        if a.dtype.kind not in "biuf":
            raise ValueError(f"{path.name}: a NumPy image must hold numbers, got dtype {a.dtype}")
        a = a.astype(np.float32)
        if a.ndim == 3 and a.shape[0] == 1:
            a = a[0]
        if a.ndim != 2:
            raise ValueError(f"{path.name}: a NumPy image must be 2-D (H, W), got shape {a.shape}")
        if a.size == 0:
            raise ValueError(f"{path.name}: the image is empty, shape {a.shape}")
        bad = ~np.isfinite(a)
        if bad.any():
            raise ValueError(f"{path.name}: the image holds {int(np.isnan(a).sum())} NaN and "
                             f"{int(bad.sum() - np.isnan(a).sum())} infinite pixels; pixels must be finite")
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
        if image_size is not None and a.shape != (image_size, image_size):
            from PIL import Image
            a = np.asarray(Image.fromarray(a).resize((image_size, image_size), Image.BILINEAR))
        return a
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as im:
            im = im.convert("L")
            if image_size is not None:
                im = im.resize((image_size, image_size), Image.BILINEAR)
            return np.asarray(im, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:  # broken or truncated file
        raise ValueError(f"{path.name} is not a readable image ({type(exc).__name__}: {exc})") from None


def read_table(table: Path) -> list[dict]:
    """The CSV's rows as dicts, after checking the encoding and the header."""
    try:
        with open(table, newline="", encoding="utf-8-sig") as fh:
            lines = list(csv.reader(fh))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{table} is not UTF-8 text (byte {exc.object[exc.start]:#x} at position {exc.start}); "
                         f"save it as UTF-8") from None
    except csv.Error as exc:
        raise ValueError(f"{table} is not a readable CSV: {exc}") from None
    lines = [line for line in lines if any(cell.strip() for cell in line)]  # blank lines carry nothing
    if not lines:
        raise ValueError(f"{table} is empty: expected a header line (image,report[,label]) and one row per pair")
    header = [h.strip() for h in lines[0]]
    missing = {"image", "report"} - set(header)
    if missing:
        raise ValueError(f"{table}, line 1: the header lacks column(s) {sorted(missing)}; it reads {lines[0]}. "
                         f"The first line must name the columns: image,report[,label]")
    if len(lines) == 1:
        raise ValueError(f"{table} has a header but no data rows")
    rows = []
    for i, line in enumerate(lines[1:], start=2):
        if len(line) > len(header):
            raise ValueError(f"{table}, line {i}: {len(line)} cells for {len(header)} columns {header} "
                             f"(quote a report that contains commas)")
        rows.append({h: (line[j] if j < len(line) else "") for j, h in enumerate(header)})
    return rows


def read_labels(rows, classes, table):
    if classes is not None:
        if isinstance(classes, (str, bytes)):
            raise ValueError(f"classes must be a sequence of class names, got the string {classes!r}")
        classes = [str(c) for c in classes]
        if not classes:
            raise ValueError("classes must name at least one class")
    if "label" not in rows[0]:
        return torch.zeros(len(rows), dtype=torch.long), list(classes or ["unlabelled"])
    raw = [(r["label"] or "").strip() for r in rows]
    empty = [i for i, s in enumerate(raw, start=2) if not s]
    if empty:
        raise ValueError(f"{table}, line {empty[0]}: the label is empty (lines {empty[:5]}); give every row a "
                         f"class name or number, or drop the label column")
    if all(s.lstrip("-").isdigit() for s in raw):
        y = [int(s) for s in raw]
        k = len(classes) if classes is not None else MAX_CLASSES
        for i, v in enumerate(y, start=2):
            if not 0 <= v < k:
                bound = f"0..{k - 1}" + (" (one per class name)" if classes is not None
                                         else f" (at most MAX_CLASSES = {MAX_CLASSES} classes)")
                raise ValueError(f"{table}, line {i}: label {v} is outside {bound}")
        names = list(classes) if classes is not None else [str(c) for c in range(max(y) + 1)]
        return torch.tensor(y), names
    names = list(classes) if classes is not None else sorted(set(raw))
    unknown = sorted(set(raw) - set(names))
    if unknown:
        line = 2 + next(i for i, s in enumerate(raw) if s in unknown)
        raise ValueError(f"{table}, line {line}: labels {unknown} are not among the classes {names}")
    return torch.tensor([names.index(s) for s in raw]), names
