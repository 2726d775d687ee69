"""One ICM batch transform vs plain Mixup: time ratio (target <= 1.5x).

    python benchmarks/mix.py                 # batch 512 of 3x32x32 images, K = 10, 50 clusters, CPU
    python benchmarks/mix.py --device cuda
    python benchmarks/mix.py --quick

Each transform = partners + mixed inputs + soft complementary targets, timed over many batches
(median of blocks). Mixup: random_partners + mix + soft_targets. ICM: intra_cluster_partners on
the batch's cluster ids + the same mix + soft_targets. Also timed: the full ``make_cll_augment``
transform (which also measures the batch's noise for the History) for both.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch


def bench(fn, device, steps, blocks=5):
    for _ in range(3):
        fn()
    times = []
    for _ in range(blocks):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) / steps)
    return statistics.median(times)


def main(argv=None):
    from labkit.data import from_arrays
    from labkit.device import get_device, make_generator
    from labkit.mix import (intra_cluster_partners, make_cll_augment, mix, random_partners, sample_lambda,
                            soft_targets)

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--shape", type=int, nargs="+", default=[3, 32, 32])
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--clusters", type=int, default=50)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--device", default=None)
    p.add_argument("--quick", action="store_true", help="fewer steps")
    a = p.parse_args(argv)
    if a.quick:
        a.steps = 10
    device = get_device(a.device)
    g = make_generator(0)
    n_train = 20 * a.batch
    x_train = torch.rand(n_train, *a.shape, generator=g)
    y_train = torch.randint(a.classes, (n_train,), generator=g)
    cl_train = (y_train + torch.randint(1, a.classes, (n_train,), generator=g)) % a.classes
    ids_train = torch.randint(a.clusters, (n_train,), generator=g).to(device)
    idx = torch.randperm(n_train, generator=g)[:a.batch].to(device)
    x, cl, y = x_train.to(device)[idx], cl_train.to(device)[idx], y_train.to(device)[idx]
    k = a.classes

    def mixup():
        partner = random_partners(a.batch, g, device=device)
        lam = sample_lambda(0.2, a.batch, g).to(device)
        return mix(x, partner, lam), soft_targets(cl, partner, lam, k)

    def icm():
        partner = intra_cluster_partners(ids_train[idx], g)
        lam = sample_lambda(0.2, a.batch, g).to(device)
        return mix(x, partner, lam), soft_targets(cl, partner, lam, k)

    data = from_arrays(x_train, y_train)
    aug_mixup = make_cll_augment("mixup", data, num_classes=k, seed=0)
    aug_icm = make_cll_augment("icm", data, num_classes=k, seed=0)
    aug_icm.cluster_ids = ids_train  # the same random ids as above (clustering itself is not timed)
    rows = [("mixup transform", bench(mixup, device, a.steps)), ("icm transform", bench(icm, device, a.steps)),
            ("mixup augment+noise", bench(lambda: aug_mixup(x, cl, idx, y), device, a.steps)),
            ("icm augment+noise", bench(lambda: aug_icm(x, cl, idx, y), device, a.steps))]
    print(f"batch {a.batch} x {tuple(a.shape)}, K = {k}, {a.clusters} clusters, device {device}, "
          f"torch threads = {torch.get_num_threads()}")
    base = {"transform": rows[0][1], "augment+noise": rows[2][1]}
    for name, t in rows:
        ref = base["transform" if name.endswith("transform") else "augment+noise"]
        print(f"{name:22s} {t * 1e3:8.3f} ms   ratio vs Mixup {t / ref:5.2f}")
    print("(target: ICM <= 1.5x Mixup)")


if __name__ == "__main__":
    main()
