"""Results are data: rows (one dict per run), their summaries, tables and files.

``summarize(rows)`` reduces rows to mean ± std per configuration; ``format_table`` prints it;
``save_rows`` writes CSV or JSON atomically, with the configurations beside it
(``results.csv`` -> ``results.config.json``) so a table can always be traced back to its settings.
"""
from __future__ import annotations

import contextlib
import csv
import datetime
import json
import math
import os
import platform
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

__all__ = ["summarize", "format_table", "save_rows", "config_path", "CONFIGS"]

#: experiment name -> its configuration class (filled by each story's module)
CONFIGS: dict[str, type] = {}

_NOT_CONFIG = {"seed", "seeds", "device", "progress", "dataset_kw"}


def _config_keys(rows: Sequence[dict]) -> list[str]:
    """Configuration columns: the fields of the configuration class that made the rows."""
    cls = CONFIGS.get(rows[0].get("experiment"))
    if cls is None:  # rows from elsewhere: every non-numeric column is configuration
        return [k for k, v in rows[0].items() if not isinstance(v, (int, float)) and k not in _NOT_CONFIG]
    fields = set(cls.options())
    return [k for k in rows[0] if (k in fields or k == "experiment") and k not in _NOT_CONFIG]


def summarize(rows: Sequence[dict], by: Sequence[str] | None = None,
              metrics: Sequence[str] | None = None) -> list[dict]:
    """Mean and standard deviation (over seeds) of every metric, one row per configuration.

    ``by``: the configuration columns (default: the configuration fields present in the rows);
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


def config_path(path: str | Path) -> Path:
    """Where the configurations of a results file go: ``r.csv`` -> ``r.config.json``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.config.json")


def save_rows(rows: Iterable[dict], path: str | Path, *, command: Sequence[str] | None = None) -> Path:
    """Write rows to ``.csv`` or ``.json`` and their configurations to ``<stem>.config.json``.

    Both files are written atomically (a temporary file renamed into place, with the usual
    permissions). The configuration file holds every distinct configuration in the rows with the
    seeds run for it, the ``command`` that produced them (if given), labkit's and torch's versions
    and the date, so a table can be traced back to its settings.
    """
    path = Path(path)
    rows = list(rows)
    if path.suffix not in (".csv", ".json"):
        raise ValueError(f"output must end in .csv or .json, got {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with _atomic(path) as f:
        if path.suffix == ".json":
            json.dump(rows, f, indent=2, default=_jsonable)
        else:
            fields = list(dict.fromkeys(k for r in rows for k in r))
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            for r in rows:
                writer.writerow({k: _csv_cell(v) for k, v in r.items()})
    with _atomic(config_path(path)) as f:
        json.dump(describe_rows(rows, command), f, indent=2, default=_jsonable)
    return path


def describe_rows(rows: Sequence[dict], command: Sequence[str] | None = None) -> dict:
    """The configurations of ``rows`` (each distinct one with its seeds) and the environment."""
    import torch

    from .. import __version__

    configs: dict[str, dict] = {}
    if rows:
        keys = _config_keys(rows)
        for r in rows:
            config = {k: r.get(k) for k in keys}
            entry = configs.setdefault(json.dumps(config, sort_keys=True, default=_jsonable),
                                       {**config, "seeds": []})
            if "seed" in r:
                entry["seeds"].append(r["seed"])
    return {"command": list(command) if command is not None else None, "rows": len(rows),
            "configurations": list(configs.values()), "labkit": __version__, "torch": torch.__version__,
            "python": platform.python_version(),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


@contextlib.contextmanager
def _atomic(path: Path):
    """Open a temporary file beside ``path`` for writing; rename it into place on success."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would survive the rename
        with os.fdopen(fd, "w", newline="") as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonable(v):
    if hasattr(v, "tolist"):
        return v.tolist()
    if isinstance(v, tuple):
        return list(v)
    return str(v)


def _csv_cell(v):
    if isinstance(v, (list, tuple, dict)) or hasattr(v, "tolist"):
        return json.dumps(v, default=_jsonable)
    return v
