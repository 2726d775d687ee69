"""The navigation cells written by tools/notebook_nav.py are current, and the script is idempotent."""
import importlib.util
import sys
import types
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("notebook_nav", ROOT / "tools" / "notebook_nav.py")
nav = importlib.util.module_from_spec(_spec)
sys.modules["notebook_nav"] = nav  # dataclasses look their module up in sys.modules
_spec.loader.exec_module(nav)

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def tiny(title="# 01 · Something", goals=True):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(title + ("\n\n**What you will learn**\n- x" if goals else "")),
                nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_markdown_cell("## Summary")]
    return nb


def tags(nb):
    return [(c.get("metadata", {}).get("tags") or [None])[0] for c in nb.cells]


def test_every_notebook_is_in_the_course_table():
    listed = {e.file for e in nav.COURSE}
    missing = [p.name for p in NOTEBOOKS if p.name not in listed]
    assert not missing, f"add {missing} to COURSE in tools/notebook_nav.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_navigation_cells_are_current(path):
    assert nav.render(path) == path.read_text(), (
        f"{path.name}: navigation cells are missing or stale; run `python tools/notebook_nav.py`")


def test_apply_is_idempotent_and_places_the_cells():
    once = nav.apply(tiny(), "01_complementary_labels.ipynb")
    assert tags(once) == [None, "nav-header", "nav-colab", None, None, "nav-footer"]
    twice = nav.apply(once, "01_complementary_labels.ipynb")
    assert nbformat.writes(twice) == nbformat.writes(once)


def test_stale_cells_are_replaced_not_duplicated(monkeypatch):
    nb = nav.apply(tiny(), "01_complementary_labels.ipynb")
    nb.cells[1]["source"] = "an old header"
    nb.cells.append(nb.cells.pop(2))  # a colab cell moved to the end by hand
    again = nav.apply(nb, "01_complementary_labels.ipynb")
    assert tags(again).count("nav-header") == tags(again).count("nav-colab") == 1
    assert again.cells[1]["source"] == nav.header_source("01_complementary_labels.ipynb")
    entries = [e if e.file != "01_complementary_labels.ipynb" else nav.Entry(e.file, e.title, e.prerequisites,
                                                                              "5 s", e.full_cpu, e.gpu)
               for e in nav.COURSE]
    monkeypatch.setattr(nav, "COURSE", entries)
    assert "| 5 s |" in nav.apply(again, "01_complementary_labels.ipynb").cells[1]["source"]


def test_header_goes_after_a_separate_goals_cell():
    nb = tiny(title="# 02 · Something", goals=False)
    nb.cells.insert(1, nbformat.v4.new_markdown_cell("**What you will learn**\n- y"))
    assert tags(nav.apply(nb, "02_mixup_complementary_noise.ipynb"))[:4] == [None, None, "nav-header", "nav-colab"]


def test_header_and_footer_links():
    head = nav.header_source("00_tour.ipynb")
    assert f"mybinder.org/v2/gh/{nav.REPOSITORY}/{nav.BRANCH}?urlpath=lab/tree/notebooks/00_tour.ipynb" in head
    assert f"colab.research.google.com/github/{nav.REPOSITORY}/blob/{nav.BRANCH}/notebooks/00_tour.ipynb" in head
    assert "(01_complementary_labels.ipynb)" in head and "previous" not in head
    foot = nav.footer_source("00_tour.ipynb")
    assert "**Next:** [01 · " in foot and "(solutions/00_tour_solutions.ipynb)" in foot
    assert "last notebook" in nav.footer_source(nav.COURSE[-1].file)


def test_linked_files_exist():
    for e in nav.COURSE:
        assert (ROOT / "notebooks" / e.file).is_file(), e.file
        assert (ROOT / "notebooks" / "solutions" / f"{Path(e.file).stem}_solutions.ipynb").is_file(), e.file


def test_unknown_notebook_and_missing_title_are_refused():
    with pytest.raises(ValueError, match="COURSE"):
        nav.apply(tiny(), "99_nothing.ipynb")
    with pytest.raises(ValueError, match="title cell"):
        nav.apply(tiny(title="# 02 · wrong number"), "01_complementary_labels.ipynb")


def test_colab_cell_does_nothing_outside_colab(monkeypatch):
    calls = []
    monkeypatch.setattr("subprocess.run", lambda *a, **k: calls.append(a))
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(nav.COLAB_SOURCE, {})
    assert calls == []


def test_colab_cell_installs_only_when_labkit_is_missing(monkeypatch):
    calls, enabled = [], []
    colab = types.ModuleType("google.colab")
    colab.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: enabled.append(True))
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setattr("subprocess.run", lambda cmd, **k: calls.append(cmd))
    exec(nav.COLAB_SOURCE, {})                    # labkit is importable here: no install
    assert calls == [] and enabled == [True]
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    exec(nav.COLAB_SOURCE, {})
    assert len(calls) == 1 and calls[0][-1] == f"labkit @ git+https://github.com/{nav.REPOSITORY}@{nav.BRANCH}"
