"""Notebooks are committed clean, ordered, and each has its answers; nbval executes them."""
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ALL = NOTEBOOKS + sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb"))


def test_there_are_notebooks():
    assert (ROOT / "notebooks" / "00_tour.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_committed_without_outputs_or_execution_counts(path):
    nb = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs or execution counts; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_structure_title_goals_summary_exercises_and_solutions(path):
    nb = json.loads(path.read_text())
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    first = "".join(nb["cells"][0]["source"])
    assert first.startswith(f"# {path.name[:2]} ·"), f"{path.name} must open with its numbered title"
    for heading in ("What you will learn", "Prerequisites", "Run time", "## Summary", "## Exercises"):
        assert heading.lower() in text.lower(), f"{path.name} lacks '{heading}'"
    solutions = ROOT / "notebooks" / "solutions" / f"{path.stem}_solutions.ipynb"
    assert solutions.is_file(), f"answers for {path.name} belong in {solutions.relative_to(ROOT)}"
