"""Execute the course notebooks for the site and turn their outputs into static HTML.

    python docs/_ext/execute_notebooks.py OUT_DIR [--jobs 2] [--cache DIR] [--no-solutions]

Each notebook under ``notebooks/`` (and ``notebooks/solutions/``) runs top to bottom with nbclient
in quick mode (``LABKIT_QUICK=1``, one OpenMP thread per kernel), ``--jobs`` at a time, and is
written to ``OUT_DIR/<same relative path>`` with its outputs. A cell that raises stops the build:
the script prints the notebook, the cell and the traceback and exits 1. The notebooks themselves
are never modified.

The outputs are then made readable without a kernel, in the copy only:

* a plotly figure (``application/vnd.plotly.v1+json``) becomes a ``<div>`` drawn by the plotly.js
  the site bundles (loaded once per page from ``_static``), so it keeps hover and zoom offline;
* a progress bar (tqdm's widget) becomes the text of its last state;
* any other widget (an interactive panel) becomes a note saying that it needs a kernel, that the
  static view follows, and where to run the notebook (Binder, Colab);
* the Colab-only install cell (tag ``nav-colab``) is removed from the page;
* the saved widget state is dropped, so no widget manager is asked for.

An executed copy is reused when neither the notebook nor the ``labkit`` package changed since
(``--cache``), which makes a rebuild after editing only the docs take seconds.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import copy
import hashlib
import html
import json
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
PLOTLY = "application/vnd.plotly.v1+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
# The repository's public address, as the README's Binder badge assumes it.
REPO = "labkit/labkit"
BINDER = "https://mybinder.org/v2/gh/{repo}/main?urlpath=lab/tree/notebooks/{path}"
COLAB = "https://colab.research.google.com/github/{repo}/blob/main/notebooks/{path}"
PLOTLY_CONFIG = {"responsive": True, "displaylogo": False}


def notebook_paths(solutions: bool = True) -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb")) + (sorted((NOTEBOOKS / "solutions").glob("*.ipynb")) if solutions else [])


def package_digest() -> str:
    """A digest of the labkit package's source: an executed copy is stale when it changes."""
    h = hashlib.sha256()
    for path in sorted((ROOT / "labkit").rglob("*.py")):
        h.update(str(path.relative_to(ROOT)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def execute(path: Path, timeout: int) -> tuple[dict, float]:
    """Run one notebook in a fresh kernel (cwd: its own folder); returns it with outputs and the time."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.monotonic()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return json.loads(nbformat.writes(nb)), time.monotonic() - start


# ----------------------------------------------------------------- static outputs
def plotly_html(figure: dict) -> str:
    """A plotly figure as a <div> and the script that draws it with the page's plotly.js."""
    div = f"labkit-plotly-{uuid.uuid4().hex[:12]}"
    layout = dict(figure.get("layout", {}))
    height = layout.get("height") or 450
    payload = json.dumps([figure.get("data", []), layout, PLOTLY_CONFIG]).replace("</", "<\\/")
    return (f'<div class="labkit-plotly" id="{div}" style="height:{int(height)}px;width:100%"></div>\n'
            f'<script type="text/javascript">labkitPlot("{div}", {payload});</script>')


def _models(nb: dict) -> dict:
    return nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def _children(model: dict) -> list[str]:
    return [c[len("IPY_MODEL_"):] for c in model.get("state", {}).get("children", [])
            if isinstance(c, str) and c.startswith("IPY_MODEL_")]


def progress_text(models: dict, model_id: str) -> str | None:
    """The text of a tqdm progress bar (an HBox of HTML, a progress bar, HTML), or None."""
    model = models.get(model_id)
    if model is None or model.get("model_name") != "HBoxModel":
        return None
    parts = [models.get(c, {}) for c in _children(model)]
    if not any(p.get("model_name") in ("FloatProgressModel", "IntProgressModel") for p in parts):
        return None
    # tqdm's left text holds the description and the percentage, the right one the counts and rates
    texts = [p.get("state", {}).get("value", "") for p in parts if p.get("model_name") == "HTMLModel"]
    return html.unescape(" ".join(t.strip() for t in texts if t.strip())).replace("\xa0", " ")


def panel_note(rel: str) -> str:
    """The note that replaces an interactive widget panel on the site."""
    binder, colab = BINDER.format(repo=REPO, path=rel), COLAB.format(repo=REPO, path=rel)
    return ('<div class="labkit-widget-note">'
            '<p class="labkit-widget-note-title">Interactive panel: it needs a running Python kernel</p>'
            '<p>Its controls (sliders, dropdowns, clicks on the map) recompute the figure in Python, so this '
            'page cannot show them. The static view of its default setting follows below. To move the '
            f'controls, run the notebook: <a class="reference external" href="{binder}">open it in Binder</a>, '
            f'<a class="reference external" href="{colab}">open it in Colab</a>, or locally with '
            f'<code>jupyter lab notebooks/{html.escape(rel)}</code>.</p></div>')


def make_static(nb: dict, rel: str) -> dict:
    """Rewrite the outputs of an executed notebook for a reader without a kernel (see the module doc)."""
    nb = copy.deepcopy(nb)
    models = _models(nb)
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if "nav-colab" in tags:
            cell["metadata"]["tags"] = [*tags, "remove-cell"]
        if cell["cell_type"] != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if PLOTLY in data:
                out = {"output_type": "display_data", "metadata": {}, "data": {"text/html": plotly_html(data[PLOTLY])}}
            elif WIDGET_VIEW in data:
                text = progress_text(models, data[WIDGET_VIEW].get("model_id", ""))
                if text is not None:
                    out = {"output_type": "stream", "name": "stdout", "text": text + "\n"}
                else:
                    out = {"output_type": "display_data", "metadata": {}, "data": {"text/html": panel_note(rel)}}
            outputs.append(out)
        cell["outputs"] = outputs
    nb.get("metadata", {}).pop("widgets", None)
    return nb


def check_errors(nb: dict, rel: str) -> list[str]:
    """Error outputs left in an executed notebook (nbclient raises on them; this is belt and braces)."""
    found = []
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            if out.get("output_type") == "error":
                found.append(f"{rel}, cell {i}: {out.get('ename')}: {out.get('evalue')}")
    return found


def _run(path: str, timeout: int) -> tuple[str, dict | None, float, str]:
    try:
        nb, seconds = execute(Path(path), timeout)
        return path, nb, seconds, ""
    except Exception as exc:  # noqa: BLE001  (reported with the notebook's name, then the build fails)
        return path, None, 0.0, f"{type(exc).__name__}: {exc}"


def _read_cached(cached: Path | None) -> dict | None:
    """The executed copy kept for this notebook and this labkit, or None (none kept, or unreadable:
    then the notebook simply runs again)."""
    if cached is None or not cached.exists():
        return None
    try:
        return json.loads(cached.read_text())
    except (OSError, ValueError):
        return None


def _write_cached(cached: Path, nb: dict) -> None:
    """Keep ``nb`` as the one executed copy of its notebook: written to a temporary file and renamed
    into place, so an interrupted build never leaves a truncated copy; older copies go afterwards."""
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(cached.name + ".tmp")
    tmp.write_text(json.dumps(nb))
    os.replace(tmp, cached)
    stem = cached.name.split(".")[0]
    for old in cached.parent.glob(f"{stem}.*.ipynb"):
        if old != cached:
            old.unlink()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for the executed copies (notebooks' relative paths kept)")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks executed at once (default 2)")
    parser.add_argument("--cache", type=Path, default=None, help="folder of executed copies to reuse")
    parser.add_argument("--timeout", type=int, default=900, help="seconds one cell may run (default 900)")
    parser.add_argument("--no-solutions", dest="solutions", action="store_false", help="leave notebooks/solutions/ out")
    args = parser.parse_args(argv)

    # The kernels inherit this environment: quick mode, plotly's JSON only (drawn by the site's
    # plotly.js), one OpenMP thread per kernel (two kernels share two cores).
    os.environ.update(LABKIT_QUICK="1", PLOTLY_RENDERER="plotly_mimetype", PYTHONHASHSEED="0")
    # the working tree's labkit, whether or not (or however) it is pip-installed
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")

    digest = package_digest()
    paths = notebook_paths(args.solutions)
    todo, executed = [], {}
    for path in paths:
        key = hashlib.sha256(path.read_bytes() + digest.encode()).hexdigest()[:16]
        cached = args.cache / f"{path.stem}.{key}.ipynb" if args.cache else None
        nb = _read_cached(cached)
        if nb is not None:
            executed[path] = (nb, 0.0, "cached")
        else:
            todo.append((path, cached))

    start, failures = time.monotonic(), []
    with concurrent.futures.ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        # longest first (the most cells), so the two workers finish together
        futures = {pool.submit(_run, str(p), args.timeout): (p, c)
                   for p, c in sorted(todo, key=lambda pc: -pc[0].stat().st_size)}
        for future in concurrent.futures.as_completed(futures):
            path, cached = futures[future]
            _, nb, seconds, error = future.result()
            rel = path.relative_to(NOTEBOOKS).as_posix()
            if error:
                failures.append(f"{rel}: {error}")
                print(f"FAILED   {rel}\n{error}", file=sys.stderr, flush=True)
                continue
            print(f"executed {rel:<55} {seconds:6.1f} s", flush=True)
            executed[path] = (nb, seconds, "")
            if cached is not None:
                _write_cached(cached, nb)
    for path, (nb, _, how) in sorted(executed.items()):
        rel = path.relative_to(NOTEBOOKS).as_posix()
        if how:
            print(f"reused   {rel} (unchanged since its last run)")
        failures += check_errors(nb, rel)
        target = args.out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(make_static(nb, rel), indent=1))
    print(f"notebooks: {len(executed)} ready, {len(todo)} executed in {time.monotonic() - start:.1f} s "
          f"({args.jobs} at a time)", flush=True)
    if failures:
        print("notebook errors:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
