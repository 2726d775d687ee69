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


# The implement-it-yourself cells: each story notebook names the checks its student cells run; the
# stub handed out fails its checker (so the cell teaches something) and the package's own answer
# passes it. The solution notebooks run the strict checks themselves under nbval.
IMPLEMENT = {
    "01_complementary_labels": ["scl-nl", "fwd"],
    "02_mixup_complementary_noise": ["pair-noise-rate", "expected-pair-noise"],
    "03_intra_cluster_mixup": ["intra-cluster-partners"],
    "04_smote_to_mixup_margins": ["mamix-weight"],
    "05_clip_embedding_alignment": ["soft-clip-loss"],
}


def _source(path: Path) -> str:
    return "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])


@pytest.mark.parametrize("stem", sorted(IMPLEMENT))
def test_implement_cells_stub_fails_and_reference_passes(stem):
    from labkit import check

    story = _source(ROOT / "notebooks" / f"{stem}.ipynb")
    solution = _source(ROOT / "notebooks" / "solutions" / f"{stem}_solutions.ipynb")
    for name in IMPLEMENT[stem]:
        assert f'"{name}"' in story, f"{stem} has no implement-it-yourself cell for {name}"
        assert f'check.implementation("{name}"' in solution and "strict=True" in solution, \
            f"the solutions of {stem} do not check {name} strictly"
        stub = check.implementation(name, check.stub(name), verbose=False)
        assert not stub.passed and "not implemented" in str(stub), f"the stub of {name} must fail its check"
        assert check.implementation(name, check.reference(name), verbose=False).passed, name


def test_every_story_notebook_has_an_implement_cell_and_every_check_is_used():
    from labkit import check

    stories = {p.stem for p in NOTEBOOKS if not p.name.startswith("00_")}
    assert set(IMPLEMENT) == stories, f"story notebooks without an implement-it-yourself cell: {stories - set(IMPLEMENT)}"
    used = {name for names in IMPLEMENT.values() for name in names}
    assert used == set(check.list_checks()), f"checks no notebook uses: {set(check.list_checks()) - used}"


def test_the_notebooks_bar_charts_carry_a_pattern_as_second_channel():
    """Grouped bars in 01–05 (method_comparison, augment_bars, ablation_bars) differ by fill pattern as
    well as colour, so a reader who cannot tell the colours apart can still tell the series."""
    from labkit.plots.clip import ablation_bars
    from labkit.plots.cll import method_comparison
    from labkit.plots.mixup import augment_bars

    rows = [{"method": "fwd", "setting": "s", "head": "linear", "transition": t, "augment": t, "loss": t,
             "test_accuracy": 0.5, "test_accuracy_std": 0.1} for t in ("uniform", "biased", "none")]
    for fig in (method_comparison(rows), augment_bars(rows), ablation_bars(rows, "test_accuracy")):
        shapes = [t.marker.pattern.shape for t in fig.data]
        colours = [t.marker.color for t in fig.data]
        assert len(set(shapes)) == len(fig.data) == 3 and len(set(colours)) == 3, (shapes, colours)


def _github_anchor(heading: str) -> str:
    """The id GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    import re

    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_links_into_the_docs_resolve(path):
    """Every relative link from a notebook to docs/*.md names a file that exists and, with #section,
    a heading that GitHub renders with that anchor."""
    import re

    text = _source(path)
    for target, anchor in re.findall(r"\]\(((?:\.\./)+docs/[\w./-]+\.md)(?:#([^)\s]+))?\)", text):
        doc = (path.parent / target).resolve()
        assert doc.is_file(), f"{path.name} links to {target}, which does not exist"
        if anchor:
            headings = [line.lstrip("#").strip() for line in doc.read_text().splitlines() if line.startswith("#")]
            assert anchor in {_github_anchor(h) for h in headings}, f"{path.name}: no heading of {target} has #{anchor}"


def _figure_shows(source: str):
    """(kind, line) of every ``X.show()`` and ``plots.show(...)`` statement in a cell's code."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics: such cells hold no figures here
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "show":
            owner = node.func.value
            if isinstance(owner, ast.Name) and owner.id == "plots":
                yield ("alt" if any(k.arg == "alt" for k in node.keywords) else "no-alt"), node.lineno
            else:
                yield "bare", node.lineno


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_static_figure_is_shown_with_a_hand_written_alt_text(path):
    """Static figures go through ``plots.show(fig, alt=...)``, which prints the one-line description
    beneath the figure for screen readers and readers without a kernel; a bare ``fig.show()`` would not."""
    nb = json.loads(path.read_text())
    bad = [(c.get("id"), line, kind) for c in nb["cells"] if c["cell_type"] == "code"
           for kind, line in _figure_shows("".join(c["source"])) if kind != "alt"]
    assert not bad, f"{path.name}: figures shown without an alt text (cell id, line, kind): {bad}"
