"""Write the navigation cells of every notebook, idempotently, from one table.

    python tools/notebook_nav.py            # update notebooks/NN_*.ipynb in place
    python tools/notebook_nav.py --check    # exit 1, naming the notebooks whose cells are stale

Three cells per notebook, each found again by its tag and replaced, never duplicated:
- ``nav-header`` (markdown), right after the title / learning-goals cell: "Open in Binder" and
  "Open in Colab" badges, prerequisites, run time in quick mode / full on a CPU / full on a GPU,
  and where the notebook sits in the course;
- ``nav-colab`` (code), next: on Google Colab only, installs labkit when it is missing and turns on
  Colab's widget manager (elsewhere it does nothing);
- ``nav-footer`` (markdown), last: the next notebook, the answers to the exercises, the index.
Edit ``COURSE`` (or ``REPOSITORY``) below and rerun; ``tests/test_notebook_nav.py`` fails while a
notebook's cells differ from what this script writes.
"""
from __future__ import annotations

import argparse
import copy
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
REPOSITORY = "labkit/labkit"  # github.com/<owner>/<name>; the README's Binder badge assumes the same
BRANCH = "main"
TAGS = ("nav-header", "nav-colab", "nav-footer")


@dataclass(frozen=True)
class Entry:
    file: str
    title: str
    prerequisites: str
    quick: str       # LABKIT_QUICK=1, 2 CPU cores
    full_cpu: str    # the real experiment on a laptop CPU
    gpu: str         # the real experiment on one GPU


COURSE = [  # run times as each notebook's own title cell states them (quick mode: 2 CPU cores). Full mode
    # measured with `env -u LABKIT_QUICK OMP_NUM_THREADS=1 jupyter nbconvert --execute` on 2 idle cores, the
    # projection cache warm (a fresh kernel adds 10–45 s for UMAP's first compile).
    Entry("00_tour.ipynb", "A tour of labkit",
          "Python, PyTorch tensors and a training loop", "about 30 s", "about 1 min (measured 51 s)", "under a minute"),
    Entry("01_complementary_labels.ipynb", "Learning from complementary labels",
          "[00](00_tour.ipynb)", "about a minute", "about 1 min (measured 63 s)", "a few minutes"),
    Entry("02_mixup_complementary_noise.ipynb", "Mixup's complementary-label noise",
          "[00](00_tour.ipynb), [01](01_complementary_labels.ipynb)", "about 30 s",
          "about 1 min (measured 32 s; 103 s on busy cores)", "less than on a CPU"),
    Entry("03_intra_cluster_mixup.ipynb", "Intra-Cluster Mixup",
          "[01](01_complementary_labels.ipynb), [02](02_mixup_complementary_noise.ipynb)", "about a minute",
          "about 1–3 min (measured 73 s; 165 s on busy cores, up to 13 min when other jobs saturate them)",
          "less than on a CPU"),
    Entry("04_smote_to_mixup_margins.ipynb", "From SMOTE to Mixup",
          "[00](00_tour.ipynb), [02](02_mixup_complementary_noise.ipynb)", "about a minute",
          "about 1.5 min (measured 83 s; over 10 min when other jobs saturate the cores)", "less than on a CPU"),
    Entry("05_clip_embedding_alignment.ipynb", "CLIP alignment of MRI slices and reports",
          "[00](00_tour.ipynb)", "about a minute", "about 2 min (measured 109 s; 279 s on busy cores)", "a few minutes"),
]

COLAB_SOURCE = '''# Google Colab only: install labkit when it is missing and enable Colab's widget manager
# (ipywidgets and plotly FigureWidgets). Anywhere else this cell does nothing.
import importlib.util
import subprocess
import sys

if "google.colab" in sys.modules:
    if importlib.util.find_spec("labkit") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                        "labkit @ git+https://github.com/%s@%s"], check=True)
    from google.colab import output
    output.enable_custom_widget_manager()''' % (REPOSITORY, BRANCH)


def entry(name: str) -> tuple[int, Entry]:
    for i, e in enumerate(COURSE):
        if e.file == name:
            return i, e
    raise ValueError(f"{name} is not in tools/notebook_nav.py's COURSE table; known: "
                     f"{', '.join(e.file for e in COURSE)}")


def link(e: Entry) -> str:
    return f"[{e.file[:2]} · {e.title}]({e.file})"


def header_source(name: str) -> str:
    i, e = entry(name)
    binder = f"https://mybinder.org/v2/gh/{REPOSITORY}/{BRANCH}?urlpath=lab/tree/notebooks/{e.file}"
    colab = f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/notebooks/{e.file}"
    where = [f"notebook {i + 1} of {len(COURSE)}"]
    if i > 0:
        where.append(f"previous: {link(COURSE[i - 1])}")
    if i + 1 < len(COURSE):
        where.append(f"next: {link(COURSE[i + 1])}")
    return "\n".join([
        f"[![Open in Binder](https://mybinder.org/badge_logo.svg)]({binder}) "
        f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab})",
        "",
        "| prerequisites | quick mode (`LABKIT_QUICK=1`) | full, laptop CPU | full, GPU |",
        "|---|---|---|---|",
        f"| {e.prerequisites} | {e.quick} | {e.full_cpu} | {e.gpu} |",
        "",
        f"<small>{' · '.join(where)} · [all notebooks](../README.md#the-notebooks)</small>",
    ])


def footer_source(name: str) -> str:
    i, e = entry(name)
    answers = f"solutions/{Path(e.file).stem}_solutions.ipynb"
    nxt = (f"**Next:** {link(COURSE[i + 1])}" if i + 1 < len(COURSE)
           else f"**This is the last notebook.** Back to the start: {link(COURSE[0])}")
    return "\n".join(["---", "", f"{nxt} · answers to the exercises: [{answers}]({answers}) · "
                      "[all notebooks](../README.md#the-notebooks)"])


def _tags(cell) -> list:
    return list(cell.get("metadata", {}).get("tags", []))


def _header_position(cells) -> int:
    """After the cell holding the learning goals when it is among the first three, else second."""
    for i, cell in enumerate(cells[:3]):
        if cell["cell_type"] == "markdown" and "what you will learn" in "".join(cell["source"]).lower():
            return i + 1
    return 1


def apply(nb, name: str):
    """Return a copy of ``nb`` (an nbformat v4 notebook) with current navigation cells."""
    entry(name)
    out = copy.deepcopy(nb)
    cells = [c for c in out.cells if not set(_tags(c)) & set(TAGS)]
    if not cells or not "".join(cells[0]["source"]).startswith(f"# {name[:2]} ·"):
        raise ValueError(f"{name} must open with its title cell '# {name[:2]} · ...'")
    header = nbformat.v4.new_markdown_cell(header_source(name), metadata={"tags": ["nav-header"]})
    colab = nbformat.v4.new_code_cell(COLAB_SOURCE, metadata={"tags": ["nav-colab"]})
    footer = nbformat.v4.new_markdown_cell(footer_source(name), metadata={"tags": ["nav-footer"]})
    for cell, tag in zip((header, colab, footer), TAGS):
        if (out.nbformat, out.nbformat_minor) >= (4, 5):
            cell["id"] = tag  # stable ids keep reruns byte-identical
        else:
            cell.pop("id", None)
    at = _header_position(cells)
    out.cells = cells[:at] + [header, colab] + cells[at:] + [footer]
    return out


def render(path: Path) -> str:
    """The text ``path`` should hold: its notebook with current navigation cells."""
    nb = nbformat.read(path, as_version=4)
    return nbformat.writes(apply(nb, path.name)) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/NN_*.ipynb in COURSE")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a notebook is stale")
    args = parser.parse_args(argv)
    paths = args.notebooks or [NOTEBOOKS / e.file for e in COURSE if (NOTEBOOKS / e.file).is_file()]
    stale = []
    for path in paths:
        text = render(path)
        if text != path.read_text():
            stale.append(path.name)
            if not args.check:
                path.write_text(text)
    verb = "stale" if args.check else "updated"
    print(f"{verb}: {', '.join(stale)}" if stale else f"navigation cells current in {len(paths)} notebooks")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
