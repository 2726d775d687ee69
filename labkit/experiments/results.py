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

__all__ = ["summarize", "format_table", "save_rows", "load_rows", "shipped_results", "config_path", "CONFIGS",
           "paired_differences", "format_paired"]

#: experiment name -> its configuration class (filled by each story's module), and -> its runner (by the package)
CONFIGS: dict[str, type] = {}
RUNNERS: dict[str, object] = {}

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
    ``<metric>_std`` (sample standard deviation; 0 for one run). A run whose metric is NaN (a
    diverged or failed run) is left out of that metric's mean and counted in ``<metric>_nan``
    (present only when non-zero, and shown by :func:`format_table`): never averaged away silently.
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
            present = [float(r[m]) for r in members if isinstance(r.get(m), (int, float))]
            values = [v for v in present if not math.isnan(v)]
            mean = sum(values) / len(values) if values else float("nan")
            var = sum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.0
            summary[m], summary[f"{m}_std"] = mean, math.sqrt(var)
            if len(values) < len(present):
                summary[f"{m}_nan"] = len(present) - len(values)
        out.append(summary)
    return out


def _hashable(v):
    return tuple(v) if isinstance(v, list) else v


def format_table(summary: Sequence[dict], metrics: Sequence[str] | None = None, digits: int = 3) -> str:
    """A plain-text table of ``summarize`` output with ``mean ± std`` cells."""
    if not summary:
        return "(no rows)"
    cols = [k for k in dict.fromkeys(k for r in summary for k in r) if not k.endswith(("_std", "_nan"))]
    if metrics is not None:
        cols = [k for k in cols if k not in _metric_names(summary[0]) or k in metrics]

    def cell(r, k):
        v = r.get(k)
        if f"{k}_std" in r and isinstance(v, float):
            nan = f" ({r[f'{k}_nan']} NaN)" if r.get(f"{k}_nan") else ""
            return f"{v:.{digits}f} ± {r[f'{k}_std']:.{digits}f}{nan}"
        return f"{v:.{digits}g}" if isinstance(v, float) else str(v)

    table = [[k for k in cols]] + [[cell(r, k) for k in cols] for r in summary]
    widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _metric_names(row: dict) -> set[str]:
    return {k[:-4] for k in row if k.endswith("_std")}


def paired_differences(rows: Sequence[dict], factor: str, *, baseline=None, metric: str = "test_accuracy",
                       pair_on: str = "seed", by: Sequence[str] | None = None, confidence: float = 0.95) -> list[dict]:
    """Per-seed PAIRED differences of ``metric`` between each level of ``factor`` and ``baseline``.

    Small data makes seed-to-seed spread large; runs that share a seed share the split and the
    labels, so d_s = metric(level, s) − metric(baseline, s) removes that shared part. For every
    level ≠ ``baseline`` (default: the first level in the rows) and every combination of the other
    configuration columns (``by``, default: the configuration columns except ``factor``), rows are
    paired on ``pair_on`` (seed). Output rows: the ``by`` columns, ``factor`` (the level),
    ``baseline``, ``n_pairs``, ``mean_diff``, ``diff_std``, ``ci_low`` / ``ci_high`` (Student-t
    interval of the mean difference at ``confidence``; NaN for one pair), ``wins`` / ``losses`` /
    ``ties`` (the sign count: how many seeds the level beat the baseline), and ``per_seed``
    ({seed: d_s}). Pairs with a NaN metric are left out and counted in ``n_nan``.
    """
    from scipy import stats

    rows = list(rows)
    if not rows:
        raise ValueError("paired_differences got no rows")
    if not any(factor in r for r in rows):
        raise ValueError(f"no row has the column {factor!r} to compare levels of")
    by = [k for k in (list(by) if by is not None else _config_keys(rows)) if k != factor]
    levels = list(dict.fromkeys(_hashable(r.get(factor)) for r in rows))
    baseline = levels[0] if baseline is None else _hashable(baseline)
    if baseline not in levels:
        raise ValueError(f"baseline {baseline!r} is not a level of {factor}; levels: {levels}")
    table: dict[tuple, dict] = {}
    for r in rows:
        key = (tuple(_hashable(r.get(k)) for k in by), _hashable(r.get(factor)))
        table.setdefault(key, {})[r.get(pair_on)] = r.get(metric, float("nan"))
    out = []
    for (group, level), values in table.items():
        if level == baseline or (group, baseline) not in table:
            continue
        base = table[(group, baseline)]
        seeds = [s for s in values if s in base]
        diffs = {s: float(values[s]) - float(base[s]) for s in seeds}
        finite = {s: d for s, d in diffs.items() if not math.isnan(d)}
        d = list(finite.values())
        n = len(d)
        mean = sum(d) / n if n else float("nan")
        std = math.sqrt(sum((v - mean) ** 2 for v in d) / (n - 1)) if n > 1 else float("nan")
        half = stats.t.ppf(0.5 + confidence / 2, n - 1) * std / math.sqrt(n) if n > 1 else float("nan")
        out.append({**dict(zip(by, group)), factor: level, "baseline": baseline, "metric": metric, "n_pairs": n,
                    "mean_diff": mean, "diff_std": std, "ci_low": mean - half, "ci_high": mean + half,
                    "wins": sum(v > 0 for v in d), "losses": sum(v < 0 for v in d), "ties": sum(v == 0 for v in d),
                    "n_nan": len(diffs) - n, "per_seed": finite})
    return out


def format_paired(paired: Sequence[dict], factor: str, digits: int = 3) -> str:
    """A plain-text table of :func:`paired_differences`: level − baseline, interval, sign count."""
    if not paired:
        return "(no pairs)"
    lines = []
    standard = {factor, "baseline", "metric", "n_pairs", "mean_diff", "diff_std", "ci_low", "ci_high", "wins",
                "losses", "ties", "n_nan", "per_seed"}
    context = [k for k in paired[0] if k not in standard
               and len({repr(p.get(k)) for p in paired}) > 1]  # the by-columns that tell the lines apart
    for p in paired:
        where = ", ".join(f"{k}={_label(p.get(k))}" for k in context)
        ci = (f"[{p['ci_low']:+.{digits}f}, {p['ci_high']:+.{digits}f}]" if not math.isnan(p["ci_low"])
              else "(one pair)")
        nan = f", {p['n_nan']} NaN" if p["n_nan"] else ""
        lines.append(f"{where + ': ' if where else ''}{_label(p[factor])} − {_label(p['baseline'])}: {p['mean_diff']:+.{digits}f} {ci}, better on "
                     f"{p['wins']} of {p['n_pairs']} seeds{nan}")
    return f"paired differences of {paired[0]['metric']} (same seed = same split and labels; 95% t interval):\n" \
        + "\n".join(lines)


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


def load_rows(path: str | Path) -> list[dict]:
    """Rows written by :func:`save_rows` (CSV or JSON), with numbers, booleans, None and lists restored."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no results file at {path}")
    if path.suffix == ".json":
        return json.loads(path.read_text())
    if path.suffix != ".csv":
        raise ValueError(f"results must be .csv or .json, got {path.name!r}")
    with open(path, newline="") as f:
        return [{k: _parse_cell(v) for k, v in r.items()} for r in csv.DictReader(f)]


def _parse_cell(text: str):
    if text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def shipped_results(name: str) -> list[dict]:
    """The rows of a full-mode result table shipped with labkit: ``results/<name>.csv`` in the repository.

    Each was produced by the ``labkit`` command recorded in ``results/<name>.config.json`` (and listed
    in ``results/README.md``); notebooks show them beside their live quick-mode runs.
    """
    root = Path(__file__).resolve().parents[2] / "results"
    path = root / (name if name.endswith((".csv", ".json")) else f"{name}.csv")
    if not path.is_file():
        available = sorted(p.stem for p in root.glob("*.csv")) if root.is_dir() else []
        raise FileNotFoundError(f"no shipped results {name!r} in {root}; available: {', '.join(available) or 'none'} "
                                f"(the results/ folder comes with a checkout of the repository)")
    return load_rows(path)


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


def _label(v) -> str:
    return "none" if v is None else str(v)


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
