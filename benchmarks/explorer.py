"""Embedding-explorer latency: how long the Python side takes to update the figure in place
(colour-by change, a lasso selection, a click with nearest neighbours, a search) for 10,000 and
70,000 points (random 64-d features, PCA projection so the projection itself is not timed).
Run: ``python benchmarks/explorer.py``. Target: under 0.5 s at 10,000 points on CPU.

``--app``: ``labkit explore`` on 70,000 × 512 features (``--app-size``; ``--fresh-cache`` makes the served
command compute its projection, as on a first opening): reading and checking the
.npy, the projection (PCA, or UMAP with ``--projection umap``; cached on disk, as in the notebooks),
the page's kernel-side build, click + k-NN in the original 512-d space (target: under 0.1 s), and,
where Chromium and Playwright are installed, the browser's first paint: the seconds from the command
saying the projection is ready to the drawn map, the page opened as soon as the server answers
(target: a few seconds),
and a click in the page until its neighbours are listed.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


def timed(fn, repeats=3):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 70_000])
    parser.add_argument("--device", default=None, help="unused: the explorer runs on the CPU")
    parser.add_argument("--quick", action="store_true", help="10,000 points only")
    parser.add_argument("--app", action="store_true", help="also time labkit explore (see the module docstring)")
    parser.add_argument("--app-size", type=int, nargs=2, default=[70_000, 512], metavar=("N", "D"))
    parser.add_argument("--projection", default="pca", choices=("pca", "umap", "tsne"), help="for --app")
    parser.add_argument("--fresh-cache", action="store_true",
                        help="for --app: the served command computes its projection itself (an empty cache), as "
                             "on a first opening; the page's kernel starts meanwhile")
    args = parser.parse_args(argv)
    os.environ.setdefault("LABKIT_DATA", tempfile.mkdtemp(prefix="labkit-bench-"))
    if args.app:
        bench_app(*args.app_size, projection=args.projection, fresh_cache=args.fresh_cache)
        return
    from labkit import widgets

    sizes = [10_000] if args.quick else args.sizes
    print(f"{'points':>8}{'build s':>10}{'colour-by s':>13}{'select s':>10}{'click+kNN s':>13}{'search s':>10}")
    for n in sizes:
        rng = np.random.default_rng(0)
        feats = rng.normal(size=(n, 64)).astype(np.float32)
        labels = rng.integers(0, 10, n)
        meta = {"score": rng.random(n), "group": rng.integers(0, 5, n).astype(str)}
        start = time.perf_counter()
        ex = widgets.embedding_explorer(feats, labels=labels, meta=meta, projection="pca")
        build = time.perf_counter() - start
        order = iter(["score", "group", "class"] * 3)
        colour = timed(lambda: setattr(ex.controls["color_by"], "value", next(order)))
        chosen = rng.choice(n, size=n // 10, replace=False)
        select = timed(lambda: ex.select(chosen))
        click = timed(lambda: ex.click(int(rng.integers(n))))
        search = timed(lambda: ex.search("7"))
        print(f"{n:>8}{build:>10.3f}{colour:>13.3f}{select:>10.3f}{click:>13.3f}{search:>10.3f}")


def bench_app(n: int, d: int, projection: str = "pca", fresh_cache: bool = False) -> None:
    """``labkit explore`` on n × d random features with 10 classes and a score column (see the docstring)."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    from labkit.app import page
    from labkit.app.command import SETTINGS
    from labkit.app.load import load_inputs
    from labkit.embed import project_2d

    tmp = Path(tempfile.mkdtemp(prefix="labkit-bench-app-"))
    rng = np.random.default_rng(0)
    np.save(tmp / "features.npy", rng.normal(size=(n, d)).astype(np.float32))
    np.save(tmp / "labels.npy", rng.integers(0, 10, n))
    print(f"labkit explore on {n:,} × {d} features ({projection}):")
    start = time.perf_counter()
    bundle = load_inputs(tmp / "features.npy", labels=tmp / "labels.npy")
    print(f"  read and check the files   {time.perf_counter() - start:7.2f} s")
    for label in ("projection (computed)",) + (() if fresh_cache else ("projection (from the cache)",)):
        start = time.perf_counter()
        project_2d(bundle.features["features"], projection, **SETTINGS)
        print(f"  {label:<27}{time.perf_counter() - start:7.2f} s")
    from labkit.app.folder import save_run

    run = save_run(tmp, "run", bundle.features, labels=bundle.labels, classes=bundle.classes)
    start = time.perf_counter()
    app = page.build(run, projection, "bench")
    page.sync_figures(app)
    print(f"  the page's kernel build    {time.perf_counter() - start:7.2f} s")
    explorer = app.explorer
    explorer.click(0)  # the first click prepares each space once (unit rows for cosine)
    click = timed(lambda: explorer.click(int(rng.integers(n))), repeats=5)
    print(f"  click + {explorer.controls['k'].value}-NN ({d}-d, cosine) {click:7.3f} s   (target < 0.1 s)")
    del app, explorer, bundle
    try:
        from tests.e2e.lab import _JS_POINT, browser_unavailable, chromium, free_port
    except ImportError:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.e2e.lab import _JS_POINT, browser_unavailable, chromium, free_port
    reason = browser_unavailable()
    if reason:
        print(f"  browser first paint: skipped ({reason})")
        return
    log = open(tmp / "server.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "labkit", "explore", str(run), "--projection", projection,
                             "--port", str(free_port()), "--no-browser"], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "OMP_NUM_THREADS": "1",
                                 **({"LABKIT_DATA": str(tmp / "fresh-cache")} if fresh_cache else {})},
                            start_new_session=True)
    try:
        import threading

        marks = {}  # "projection ready" and "listening": when the command's log first said so

        def watch():
            while ("ready" not in marks or "listening" not in marks) and proc.poll() is None:
                text = (tmp / "server.log").read_text()
                if "projection ready" in text:
                    marks.setdefault("ready", time.monotonic())
                found = re.search(r"at (http://127\.0\.0\.1:\d+/)", text)
                if found and "Voil" in text and "listening" not in marks:
                    marks.update(listening=time.monotonic(), url=found.group(1))
                time.sleep(0.05)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        deadline = time.monotonic() + 900
        while "url" not in marks and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        if "url" not in marks:
            print("  browser first paint: the server did not start\n" + (tmp / "server.log").read_text()[-2000:])
            return
        url = marks["url"]
        with chromium() as context:
            page_ = context.new_page()
            state = []  # when the figures' state (the big websocket message) arrives
            page_.on("websocket", lambda ws: ws.on("framereceived", lambda m: len(m) > 10 ** 6
                                                   and state.append(time.monotonic())))
            page_.goto(url, wait_until="commit", timeout=600_000)  # at once, as the browser the command opens
            page_.wait_for_function(
                "(n) => Array.from(document.querySelectorAll('.js-plotly-plot')).some(g => g._fullData &&"
                " g._fullData.some(t => t.x && t.x.length === n))", arg=n, timeout=600_000, polling=100)
            drawn = time.monotonic()
            watcher.join(timeout=60)
            ready = marks.get("ready", float("nan"))
            print(f"  browser first paint        {drawn - ready:7.2f} s   (projection ready -> {n:,} points drawn; "
                  f"the page opened as soon as the server listened; headless Chromium draws WebGL in software)")
            got = f"the figures' state received {state[0] - ready:.1f} s after it; " if state else ""
            print(f"    of which: {got}the server listened {marks['listening'] - ready:+.1f} s from the projection "
                  f"being ready (negative: before, its kernel starting meanwhile)")
            time.sleep(1.0)
            x, y = page_.evaluate(_JS_POINT, [page_.locator("body").element_handle(), 3])
            page_.mouse.move(x - 3, y - 3)
            page_.mouse.move(x, y, steps=3)
            time.sleep(0.5)
            start = time.monotonic()
            page_.mouse.click(x, y)
            page_.wait_for_function("() => document.body.innerText.includes('nearest in')", timeout=60_000,
                                    polling=20)
            print(f"  browser click -> neighbours listed {time.monotonic() - start:5.2f} s")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


if __name__ == "__main__":
    main()
