"""labkit.mix.kmeans vs scikit-learn's KMeans(n_init=1): time ratio and inertia ratio.

    python benchmarks/kmeans.py                 # 20,000 x 64, k = 50, CPU (and the GPU if present)
    python benchmarks/kmeans.py --device cuda --n 60000 --dim 512
    python benchmarks/kmeans.py --quick

Both start from k-means++ seeding and run Lloyd iterations to the same relative tolerance (1e-4)
and iteration cap; times are the median of ``--repeats`` runs with different seeds, inertias their
mean. On blobs one run's inertia varies by a few percent with the seed (different local optima, for
both libraries), so compare means over ten or more seeds. Data: Gaussian
blobs (the shape of real feature clusters) or uniform noise (``--data uniform``).
Ratios < 1 mean labkit is faster / has lower inertia.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch


def make_data(n, dim, k, kind, seed=0):
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        return rng.random((n, dim), dtype=np.float32)
    centres = rng.normal(size=(k, dim)).astype(np.float32) * 2
    return centres[rng.integers(k, size=n)] + rng.normal(size=(n, dim)).astype(np.float32)


def timed(fn, device=None):
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def main(argv=None):
    from sklearn.cluster import KMeans

    from labkit.device import get_device
    from labkit.mix import kmeans

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--k", type=int, default=50)
    p.add_argument("--iters", type=int, default=300)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--data", choices=("blobs", "uniform"), default="blobs")
    p.add_argument("--device", default=None, help="also time labkit on this device (default: cuda if present)")
    p.add_argument("--quick", action="store_true", help="5,000 x 32, k = 20, one repeat")
    a = p.parse_args(argv)
    if a.quick:
        a.n, a.dim, a.k, a.repeats = 5000, 32, 20, 1
    x = make_data(a.n, a.dim, a.k, a.data)
    print(f"data: {a.data} {a.n} x {a.dim}, k = {a.k}, torch threads = {torch.get_num_threads()}")
    cpu = torch.device("cpu")
    xt = torch.from_numpy(x)
    kmeans(xt[:500], 5, seed=0, device=cpu)  # warm-up
    rows, spread = {}, {}
    for name, run in [
        ("scikit-learn", lambda s: KMeans(a.k, n_init=1, max_iter=a.iters, tol=1e-4, random_state=s).fit(x).inertia_),
        ("labkit cpu", lambda s: kmeans(xt, a.k, iters=a.iters, tol=1e-4, seed=s, device=cpu).inertia),
    ]:
        runs = [timed(lambda: run(s), cpu) for s in range(a.repeats)]
        rows[name] = (statistics.median(t for t, _ in runs), statistics.mean(i for _, i in runs))
        spread[name] = statistics.pstdev(i for _, i in runs) / rows[name][1]
    device = get_device(a.device) if a.device else (torch.device("cuda") if torch.cuda.is_available() else None)
    if device is not None and device.type != "cpu":
        xd = xt.to(device)
        kmeans(xd, a.k, seed=0, device=device)  # warm-up (kernels, allocator)
        runs = [timed(lambda: kmeans(xd, a.k, iters=a.iters, tol=1e-4, seed=s, device=device).inertia, device)
                for s in range(a.repeats)]
        rows[f"labkit {device.type}"] = (statistics.median(t for t, _ in runs), statistics.mean(i for _, i in runs))
        spread[f"labkit {device.type}"] = statistics.pstdev(i for _, i in runs) / rows[f"labkit {device.type}"][1]
    ref_t, ref_i = rows["scikit-learn"]
    print(f"{'':14s} {'seconds':>9s} {'time ratio':>11s} {'mean inertia':>14s} {'inertia ratio':>14s} "
          f"{'seed spread':>12s}")
    for name, (t, i) in rows.items():
        print(f"{name:14s} {t:9.3f} {t / ref_t:11.2f} {i:14.1f} {i / ref_i:14.4f} {spread[name]:11.1%}")
    print("(ratios are labkit / scikit-learn; target on CPU: time ratio <= 2, inertia ratio within a few %)")


if __name__ == "__main__":
    main()
