"""The course site's cache of executed notebooks (docs/_ext/execute_notebooks.py): written whole or
not at all, and an unreadable copy is a miss (the notebook runs again), never a crash."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("execute_notebooks", ROOT / "docs" / "_ext" / "execute_notebooks.py")
execute_notebooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(execute_notebooks)


def test_a_kept_copy_replaces_the_older_ones_and_leaves_no_temporary_file(tmp_path):
    old = tmp_path / "00_tour.aaaa.ipynb"
    old.write_text("{}")
    new = tmp_path / "00_tour.bbbb.ipynb"
    execute_notebooks._write_cached(new, {"cells": [1]})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00_tour.bbbb.ipynb"]
    assert execute_notebooks._read_cached(new) == {"cells": [1]}


def test_a_truncated_or_missing_copy_is_a_miss(tmp_path):
    broken = tmp_path / "01_x.cccc.ipynb"
    broken.write_text('{"cells": [')
    assert execute_notebooks._read_cached(broken) is None
    assert execute_notebooks._read_cached(tmp_path / "absent.ipynb") is None
    assert execute_notebooks._read_cached(None) is None
