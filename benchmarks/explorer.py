"""Embedding-explorer latency: how long the Python side takes to update the figure in place
(colour-by change, a lasso selection, a click with nearest neighbours, a search) for 10,000 and
70,000 points (random 64-d features, PCA projection so the projection itself is not timed).
Run: ``python benchmarks/explorer.py``. Target: under 0.5 s at 10,000 points on CPU.
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
    args = parser.parse_args(argv)
    os.environ.setdefault("LABKIT_DATA", tempfile.mkdtemp(prefix="labkit-bench-"))
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


if __name__ == "__main__":
    main()
