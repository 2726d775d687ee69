"""The ``labkit explore`` command: check the inputs, project, pick a port, serve the page with Voila.

Order matters: every file is read and checked BEFORE the server starts; any problem with the
user's files is one line on stderr and exit status 2. A port in use moves to the next free one, and
the command says so. The projection is then computed in a child process (into the on-disk cache of
:func:`labkit.embed.project_2d`) while the server and the page's kernel start, and the kernel builds
the page as soon as it is ready (:func:`wait_for_projection`).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

from .load import InputError, load_inputs

__all__ = ["main", "build_parser", "free_port_from", "SETTINGS", "DEFAULT_PORT"]

#: the projection settings of the app's explorer; the command projects with the same ones (one cache entry)
SETTINGS = dict(n_neighbors=15, min_dist=0.1, perplexity=30.0, seed=0)
DEFAULT_PORT = 8866
PROG = "labkit explore"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description="Open the embedding explorer on your own embeddings as a web app at a local URL.",
        epilog="Every file is checked before the server starts (exit status 2 with one line on a problem). "
               "The folder format is described in docs/explore.md.")
    p.add_argument("features", metavar="FEATURES",
                   help="(N, D) features: .npy, .pt, .csv, or a folder written by --save-embeddings "
                        "(one run, or several runs of the same examples)")
    p.add_argument("--labels", metavar="FILE", help="one label per example: .npy, .pt, .txt (one per line) or .csv")
    p.add_argument("--meta", metavar="CSV", help="metadata to colour by: a .csv with a header and one row per example")
    p.add_argument("--images", metavar="DIR|NPY",
                   help="thumbnails: a folder of N image files (sorted by name) or an (N, C, H, W) .npy array")
    p.add_argument("--texts", metavar="FILE", help="one text per example (shown, hovered, searched): .txt or .json")
    p.add_argument("--compare", metavar="FEATURES2",
                   help="a second embedding of the same examples, drawn beside the first (same formats)")
    p.add_argument("--projection", default="umap", choices=("umap", "pca", "tsne"),
                   help="the 2-D map to start with (default: umap; cached on disk, like the notebooks')")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"local port (default: {DEFAULT_PORT}; if it is in use, the next free one)")
    p.add_argument("--no-browser", action="store_true", help="do not open a web browser; just print the URL")
    return p


def free_port_from(port: int, host: str = "127.0.0.1", tries: int = 50) -> int:
    """The first port from ``port`` on that nothing listens on at ``host`` (ValueError after ``tries``)."""
    for candidate in range(port, min(port + tries, 65536)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, candidate))
            except OSError:
                continue
            return candidate
    raise ValueError(f"no free port in {port}..{min(port + tries, 65536) - 1}; pass another with --port")


def _error(message: str) -> int:
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def _project(bundle, projection: str) -> float:
    """Compute (or read from the cache) every embedding's projection; returns the seconds taken."""
    from ..embed import project_2d

    start = time.perf_counter()
    for name, x in {**bundle.features, **bundle.compare}.items():
        print(f"projecting {name!r} ({len(x):,} × {x.shape[1]}) with {projection.upper()} "
              f"(cached on disk after the first time)...", file=sys.stderr, flush=True)
        project_2d(x, projection, **SETTINGS)
    return time.perf_counter() - start


def write_notebook(folder: Path, session: Path, projection: str, title: str) -> Path:
    """The one-cell notebook Voila serves: it shows the page of :mod:`labkit.app.page`."""
    code = (f"from labkit.app.page import show\n"
            f"show({str(session)!r}, projection={projection!r}, title={title!r});")
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "explore", "metadata": {}, "outputs": [],
                     "source": code}],
          "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                       "language_info": {"name": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path = folder / "labkit-explore.ipynb"
    path.write_text(json.dumps(nb))
    return path


#: Voila's "lab" page without its two style sheets from a CDN (the app works offline and asks nothing of
#: the network); everything else is the lab template's (``super.super()`` skips the lab block's links)
_TEMPLATE = """{%- extends 'voila/templates/lab/index.html.j2' -%}
{% import "spinner.macro.html.j2" as spinner %}
{%- block notebook_css -%}
  {% if frontend == "voila" %}{{ resources.include_js("static/voila-style.js") }}{% endif %}
  {{ spinner.css() }}
  <style>.jp-mod-noOutputs.jp-mod-noInput { display: none; }</style>
  {{ super.super() }}
{%- endblock notebook_css -%}
"""
TEMPLATE_NAME = "labkit-explore"
#: the plotly widget's JavaScript, served once as a file beside the notebook (see labkit.app.page)
PLOTLY_BUNDLE = "plotly-widget.js"


def write_assets(folder: Path) -> None:
    """The page template (under ``folder/voila/templates``) and plotly's widget bundle, beside the notebook."""
    import plotly

    template = folder / "voila" / "templates" / TEMPLATE_NAME
    template.mkdir(parents=True, exist_ok=True)
    (template / "conf.json").write_text(json.dumps({"base_template": "lab"}))
    (template / "index.html.j2").write_text(_TEMPLATE)
    shutil.copyfile(Path(plotly.__file__).parent / "package_data" / "widgetbundle.js", folder / PLOTLY_BUNDLE)


def serve(notebook: Path, port: int, open_browser: bool) -> None:
    """Serve ``notebook`` with Voila on 127.0.0.1:``port`` until interrupted (Ctrl-C)."""
    import os

    from voila.app import Voila

    write_assets(notebook.parent)
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(notebook.parent), os.environ.get("JUPYTER_PATH")]))
    Voila.launch_instance(argv=[str(notebook), f"--port={port}", "--Voila.ip=127.0.0.1", "--Voila.port_retries=0",
                                f"--Voila.open_browser={open_browser}", "--show_tracebacks=True",
                                "--theme=light", f"--template={TEMPLATE_NAME}", "--preheat_kernel=True",
                                "--pool_size=1",
                                f"--VoilaConfiguration.file_allowlist={[PLOTLY_BUNDLE.replace('.', '[.]')]!r}"])


def main(argv=None) -> int:
    """Run ``labkit explore``; returns the exit status (2 for any problem with the inputs)."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse has printed its usage line
        return int(exc.code or 0)
    if not 1 <= args.port <= 65535:
        return _error(f"--port must be in 1..65535, got {args.port}")
    try:
        bundle = load_inputs(args.features, labels=args.labels, meta=args.meta, images=args.images,
                             texts=args.texts, compare=args.compare)
    except InputError as exc:
        return _error(str(exc))
    try:
        port = free_port_from(args.port)
    except ValueError as exc:
        return _error(str(exc))
    if port != args.port:
        print(f"port {args.port} is in use; using port {port} instead", file=sys.stderr)
    if args.projection == "pca":
        flat = [name for name, x in {**bundle.features, **bundle.compare}.items() if x.shape[1] < 2]
        if flat:
            return _error(f"pca needs features with at least 2 dimensions; {flat[0]!r} has 1")
    from .folder import save_run

    tmp = Path(tempfile.mkdtemp(prefix="labkit-explore-"))
    projector = None
    try:
        session = save_run(tmp, "session", bundle.features, labels=bundle.labels, classes=bundle.classes,
                           meta=bundle.meta or None, images=bundle.images, texts=bundle.texts,
                           compare=bundle.compare or None)
        if sys.platform.startswith("linux"):  # fork: the inputs are already in memory, nothing is re-imported
            import multiprocessing

            projector = multiprocessing.get_context("fork").Process(
                target=project_into, args=(session, bundle, args.projection), daemon=True)
            projector.start()
            _write_marker(session / PENDING, str(projector.pid))  # the page stops waiting if it is gone
        else:  # no safe fork: project first, then serve
            _write_marker(session / PENDING, str(os.getpid()))
            project_into(session, bundle, args.projection)
        notebook = write_notebook(tmp, session, args.projection, Path(args.features).name)
        print(f"labkit explore: serving {bundle.n:,} examples at http://127.0.0.1:{port}/ (Ctrl-C to stop)",
              file=sys.stderr, flush=True)
        serve(notebook, port, not args.no_browser)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    finally:
        if projector is not None and projector.is_alive():
            projector.terminate()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


# The projection runs beside the server: the page's kernel starts (and imports PyTorch and plotly, the
# slow part of its start) while the projection is computed, and builds the page once it is in the cache.
PENDING, READY, FAILED = "projection.pending", "projection.ready", "projection.failed"


def project_into(session: Path, bundle, projection: str) -> None:
    """Compute the projections into the on-disk cache, then leave ``READY`` (or ``FAILED`` and its
    message) in ``session``; run in a child process of the command."""
    try:
        seconds = _project(bundle, projection)
    except KeyboardInterrupt:
        return
    except Exception as exc:  # noqa: BLE001 - reported on the page and here, the server stays up
        message = " ".join(f"{type(exc).__name__}: {exc}".split())
        _write_marker(session / FAILED, message)
        print(f"{PROG}: error: the projection failed: {message}", file=sys.stderr, flush=True)
        return
    _write_marker(session / READY, f"{seconds:.3f}")
    print(f"projection ready in {seconds:.1f} s", file=sys.stderr, flush=True)


def _write_marker(path: Path, text: str) -> None:
    """Write a marker whole or not at all (a temporary file renamed into place): the page never reads
    a half-written one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` is still running (a zombie, ended but not yet reaped, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (not Linux): kill(pid, 0) is all we know
    return state not in ("Z", "X")


def wait_for_projection(session, poll: float = 0.1) -> None:
    """Block until the command's projection of ``session`` is in the cache (at once for a folder the
    command did not write); RuntimeError with the command's message if it failed, or if the process
    projecting (its pid is in the ``PENDING`` marker) ended without a result."""
    session = Path(session)
    while (session / PENDING).exists() and not (session / READY).exists():
        if (session / FAILED).exists():
            raise RuntimeError(f"the projection failed: {(session / FAILED).read_text()}")
        text = (session / PENDING).read_text().strip()
        if text.isdigit() and not _alive(int(text)):
            if (session / READY).exists() or (session / FAILED).exists():
                continue  # it finished just now
            raise RuntimeError(f"the projection process (pid {text}) ended without a result; see the "
                               f"command's output, and run {PROG} again")
        time.sleep(poll)
