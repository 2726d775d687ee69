"""The project installs as the README says, CI runs the README's test command, Binder matches."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower()


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    assert "pip install -e . && jupyter lab notebooks/00_tour.ipynb" in readme
    assert 'pip install -e ".[test]" && pytest' in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install -e ".[test]"' in ci and re.search(r"^pytest\s*$", ci, re.M)


def test_binder_lists_every_runtime_dependency_with_cpu_torch():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = {_name(r) for r in project["dependencies"]}
    lines = [l for l in (ROOT / "binder" / "requirements.txt").read_text().splitlines()
             if l.strip() and not l.startswith("#")]
    listed = {_name(l) for l in lines if not l.startswith("--")}
    assert needed <= listed, f"binder/requirements.txt lacks {sorted(needed - listed)}"
    assert any("download.pytorch.org/whl/cpu" in l for l in lines)
    post = (ROOT / "binder" / "postBuild").read_text()
    assert "set -e" in post and "pip install" in post


def test_no_torch_pin_that_forces_a_download():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    torch_req = next(r for r in project["dependencies"] if _name(r) == "torch")
    assert "==" not in torch_req and "<" not in torch_req
    assert project["requires-python"] == ">=3.10"


def test_the_readme_python_examples_run_as_written():
    """The public names the README shows keep working: each ```python block runs top to bottom."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) >= 2
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert 0.0 <= namespace["rows"][0]["test_accuracy"] <= 1.0
