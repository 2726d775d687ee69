"""The full-mode tables shipped in results/: each traceable to its command, and one re-run here."""
import json
import re
from pathlib import Path

import pytest

from labkit.experiments import CONFIGS, config_path, load_rows

ROOT = Path(__file__).resolve().parents[1] / "results"
TABLES = sorted(ROOT.glob("*.csv"))


def test_results_are_shipped_and_listed_with_their_commands():
    assert TABLES, "results/ holds no shipped table"
    readme = (ROOT / "README.md").read_text()
    for table in TABLES:
        meta = json.loads(config_path(table).read_text())
        command = " ".join(_what_is_run(meta["command"]))
        assert command.startswith("labkit ") and f"--out results/{table.name}" in command, table.name
        listed = [" ".join(_what_is_run(c.split())) for c in re.findall(r"`(labkit [^`]+)`", readme)]
        assert command in listed, f"results/README.md must list {table.name} with its command: {command}"
        rows = load_rows(table)
        assert len(rows) == meta["rows"] and rows, table.name
        seeds = {r["seed"] for r in rows}
        assert len(seeds) >= 3, f"{table.name}: a shipped comparison needs several seeds, got {sorted(seeds)}"


def _what_is_run(argv):
    """The command without the flags that change how it is shown or scheduled, not what it computes."""
    out, skip = [], 0
    for word in argv:
        if skip:
            skip -= 1
        elif word in ("--quiet", "--fresh"):
            continue
        elif word in ("--executor", "--workers"):
            skip = 1
        else:
            out.append(word)
    return out


def _cheapest_row():
    rows = [(r, t) for t in TABLES for r in load_rows(t) if r.get("experiment") in CONFIGS]
    return min(rows, key=lambda rt: rt[0]["seconds"])


def test_one_shipped_configuration_reproduces_within_a_point():
    row, table = _cheapest_row()
    cls = CONFIGS[row["experiment"]]
    fields = {k: row[k] for k in cls.options() if k in row and k != "seeds"}
    config = cls.build(**fields, seeds=(row["seed"],))
    runner = {"cll": "run_cll", "imbalanced": "run_imbalanced", "clip": "run_clip"}[row["experiment"]]
    import labkit.experiments as experiments

    (again,) = getattr(experiments, runner)(config, device="cpu", progress=False)
    metric = cls.METRICS[0]
    assert again[metric] == pytest.approx(row[metric], abs=0.01), \
        f"{table.name}, seed {row['seed']}: {metric} {again[metric]:.4f} now vs {row[metric]:.4f} shipped"
