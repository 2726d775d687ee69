"""One function per story, each returning rows of results (one dict per seed).

``run_cll`` (complementary labels, with Mixup / ICM as options), ``run_imbalanced`` (long-tailed
data, SMOTE to MAMix) and ``run_clip`` (image-report alignment). ``summarize(rows)`` reduces rows to
mean ± std per configuration; ``save_rows`` writes CSV or JSON. The ``labkit`` command line
(:mod:`labkit.cli`) is built from these signatures: every keyword argument is a flag.
Results are data: select on validation, report mean ± std over seeds, never tune on test.
"""
from __future__ import annotations

import csv
import inspect
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

from .data import Dataset, load_dataset

__all__ = ["run_cll", "run_imbalanced", "run_clip", "summarize", "save_rows", "format_table", "resolve_dataset"]


# ------------------------------------------------------------------------------ shared helpers

def resolve_dataset(dataset, **kw) -> tuple[Dataset, Dataset]:
    """``(train, test)`` from a dataset name (see ``list_datasets()``) or a ``(train, test)`` pair."""
    if isinstance(dataset, str):
        return load_dataset(dataset, "train", **kw), load_dataset(dataset, "test", **kw)
    if (isinstance(dataset, (tuple, list)) and len(dataset) == 2
            and all(isinstance(d, Dataset) for d in dataset)):
        train, test = dataset
        if train.num_classes != test.num_classes or train.in_shape != test.in_shape:
            raise ValueError("train and test must have the same classes and example shape")
        return train, test
    raise ValueError("dataset must be a name from list_datasets() or a (train, test) pair of labkit Datasets")


def check_seeds(seeds) -> tuple[int, ...]:
    """Seeds as a non-empty tuple of ints (a single int is accepted)."""
    if isinstance(seeds, int):
        seeds = (seeds,)
    seeds = tuple(seeds)
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ValueError(f"seeds must be a non-empty sequence of integers, got {seeds!r}")
    return seeds


_NOT_CONFIG = {"seed", "seeds", "device", "progress", "dataset_kw"}


def _config_keys(rows: Sequence[dict]) -> list[str]:
    """Configuration columns: the parameters of the run function that made the rows."""
    runners = {"cll": run_cll, "imbalanced": run_imbalanced, "clip": run_clip}
    fn = runners.get(rows[0].get("experiment"))
    params = set(inspect.signature(fn).parameters) if fn else set()
    keys = [k for k in rows[0] if (k in params or k == "experiment") and k not in _NOT_CONFIG]
    if not fn:  # rows from elsewhere: every non-numeric column is configuration
        keys = [k for k, v in rows[0].items() if not isinstance(v, (int, float)) and k not in _NOT_CONFIG]
    return keys


def summarize(rows: Sequence[dict], by: Sequence[str] | None = None,
              metrics: Sequence[str] | None = None) -> list[dict]:
    """Mean and standard deviation (over seeds) of every metric, one row per configuration.

    ``by``: the configuration columns (default: the run function's parameters present in the rows);
    ``metrics``: the numeric columns to reduce (default: every other int/float column).
    Output columns: the ``by`` columns, ``n`` (number of runs), then ``<metric>`` (mean) and
    ``<metric>_std`` (sample standard deviation; 0 for one run).
    """
    rows = list(rows)
    if not rows:
        raise ValueError("summarize got no rows")
    by = list(by) if by is not None else _config_keys(rows)
    if metrics is None:
        metrics = [k for k, v in rows[0].items()
                   if k not in by and k not in _NOT_CONFIG and isinstance(v, (int, float))
                   and not isinstance(v, bool)]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(_hashable(r.get(k)) for k in by), []).append(r)
    out = []
    for key, members in groups.items():
        summary = dict(zip(by, key))
        summary["n"] = len(members)
        for m in metrics:
            values = [float(r[m]) for r in members if isinstance(r.get(m), (int, float))]
            values = [v for v in values if not math.isnan(v)]
            mean = sum(values) / len(values) if values else float("nan")
            var = sum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.0
            summary[m], summary[f"{m}_std"] = mean, math.sqrt(var)
        out.append(summary)
    return out


def _hashable(v):
    return tuple(v) if isinstance(v, list) else v


def format_table(summary: Sequence[dict], metrics: Sequence[str] | None = None, digits: int = 3) -> str:
    """A plain-text table of ``summarize`` output with ``mean ± std`` cells."""
    if not summary:
        return "(no rows)"
    cols = [k for k in summary[0] if not k.endswith("_std")]
    if metrics is not None:
        cols = [k for k in cols if k not in _metric_names(summary[0]) or k in metrics]

    def cell(r, k):
        v = r.get(k)
        if f"{k}_std" in r and isinstance(v, float):
            return f"{v:.{digits}f} ± {r[f'{k}_std']:.{digits}f}"
        return f"{v:.{digits}g}" if isinstance(v, float) else str(v)

    table = [[k for k in cols]] + [[cell(r, k) for k in cols] for r in summary]
    widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _metric_names(row: dict) -> set[str]:
    return {k[:-4] for k in row if k.endswith("_std")}


def save_rows(rows: Iterable[dict], path: str | Path) -> Path:
    """Write rows to ``.csv`` or ``.json`` atomically (a temporary file renamed into place)."""
    path = Path(path)
    rows = list(rows)
    if path.suffix not in (".csv", ".json"):
        raise ValueError(f"output must end in .csv or .json, got {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            if path.suffix == ".json":
                json.dump(rows, f, indent=2, default=_jsonable)
            else:
                fields = list(dict.fromkeys(k for r in rows for k in r))
                writer = csv.DictWriter(f, fieldnames=fields)
                writer.writeheader()
                for r in rows:
                    writer.writerow({k: _csv_cell(v) for k, v in r.items()})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _jsonable(v):
    if hasattr(v, "tolist"):
        return v.tolist()
    return str(v)


def _csv_cell(v):
    if isinstance(v, (list, tuple, dict)) or hasattr(v, "tolist"):
        return json.dumps(v, default=_jsonable)
    return v


# ============================================================== story 1 and 2: complementary labels
# (run_cll: owned by the CLL core work; Mixup / ICM options by the ICM work)

def run_cll(*, dataset="digits", method: str = "scl-nl", transition: str = "uniform", num_cl: int = 1,
            model: str = "mlp", epochs: int | None = None, lr: float = 1e-3, batch_size: int = 256,
            seeds: Sequence[int] = (0, 1, 2), val_fraction: float = 0.1, select: str = "scel",
            device=None, progress: bool = True, **kw) -> list[dict]:
    """Complementary-label learning on one dataset: one row per seed. (Being built.)"""
    raise NotImplementedError("run_cll is being built")


# =========================================================================== story 3: imbalance

def run_imbalanced(*, dataset="digits", ratio: float = 10.0, kind: str = "exp", strategy: str = "erm",
                   model: str = "mlp", epochs: int | None = None, lr: float = 1e-3,
                   seeds: Sequence[int] = (0, 1, 2), device=None, progress: bool = True, **kw) -> list[dict]:
    """Long-tailed training with one strategy: one row per seed. (Being built.)"""
    raise NotImplementedError("run_imbalanced is being built")


# ============================================================================= story 4: CLIP

def run_clip(*, vision: str = "cnn", text: str = "minilm", head: str = "linear", loss: str = "soft",
             epochs: int | None = None, seeds: Sequence[int] = (0, 1, 2), device=None,
             progress: bool = True, **kw) -> list[dict]:
    """Contrastive image-report pretraining on the synthetic lumbar set: one row per seed. (Being built.)"""
    raise NotImplementedError("run_clip is being built")
