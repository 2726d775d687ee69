"""Benchmark complementary-label generation and one CLL training epoch against the obvious alternatives.

1. Label generation: ``labkit.cll.sample_complementary`` (vectorised inverse-CDF / Gumbel-top-k) for
   N labels vs a per-example Python loop (``numpy.random.Generator.choice`` on each row of Q, the way
   per-sample dataset code does it), timed on a slice and scaled up.
2. One epoch of ``scl-nl`` on MNIST-sized data (60,000 × 1×28×28; random pixels, since MNIST needs a
   download), MLP, batch 256: ``labkit.fit`` + ``DeviceLoader`` vs a libcll-style loop
   (``torch.utils.data.DataLoader`` over a ``TensorDataset``, per-batch Python: move, forward,
   loss, backward, step, ``loss.item()``).

Prints times and RATIOS (alternative / labkit). ``--quick`` shrinks the sizes. Run:
``python benchmarks/cll.py [--device cpu|cuda] [--quick]``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from labkit import DeviceLoader, build_model, fit, get_device, set_seed
from labkit.cll import CLLObjective, make_method, sample_complementary, transition_matrix


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fn, device, repeats=1):
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def bench_labels(n: int, loop_n: int, device) -> None:
    k = 10
    q = transition_matrix("strong", k, seed=0)
    y = torch.randint(0, k, (n,), generator=torch.Generator().manual_seed(0)).to(device)
    fast = _time(lambda: sample_complementary(y, q, seed=1), device, repeats=3)
    fast_multi = _time(lambda: sample_complementary(y, q, num_cl=3, seed=1), device, repeats=3)
    rng, qn, yn = np.random.default_rng(0), q.double().numpy(), y[:loop_n].cpu().numpy()
    qn = qn / qn.sum(1, keepdims=True)
    start = time.perf_counter()
    [rng.choice(k, p=qn[t]) for t in yn]
    loop = (time.perf_counter() - start) * n / loop_n
    print(f"labels  N={n:,} K={k} (strong Q)")
    print(f"  labkit sample_complementary, 1 label   {fast:8.3f} s")
    print(f"  labkit sample_complementary, 3 labels  {fast_multi:8.3f} s")
    print(f"  per-example numpy loop (scaled from {loop_n:,})  {loop:8.3f} s   ratio {loop / fast:7.1f}x")


def bench_epoch(n: int, device, batch_size: int = 256) -> None:
    k = 10
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 28, 28, generator=g)
    y = torch.randint(0, k, (n,), generator=g)
    cl = sample_complementary(y, transition_matrix("uniform", k), seed=0)
    method = make_method("scl-nl", k)

    def labkit_epoch():
        set_seed(0)
        model = build_model("mlp", (1, 28, 28), k)
        loader = DeviceLoader(x, cl, batch_size=batch_size, seed=0, device=device)
        fit(model, loader, CLLObjective(method), epochs=1, lr=1e-3, device=device, progress=False)

    def libcll_style_epoch():
        set_seed(0)
        model = build_model("mlp", (1, 28, 28), k).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        losses = []
        for xb, cb in DataLoader(TensorDataset(x, cl), batch_size=batch_size, shuffle=True):
            xb, cb = xb.to(device), cb.to(device)
            loss = method.to(device).loss(model(xb), cb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())

    labkit_epoch()  # warm-up (allocations, kernels)
    fast = _time(labkit_epoch, device, repeats=2)
    slow = _time(libcll_style_epoch, device, repeats=2)
    print(f"epoch   scl-nl, MLP, {n:,} x 1x28x28, batch {batch_size}, device {device}")
    print(f"  labkit fit + DeviceLoader              {fast:8.3f} s")
    print(f"  DataLoader + per-batch Python loop     {slow:8.3f} s   ratio {slow / fast:7.2f}x")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a few seconds)")
    args = parser.parse_args(argv)
    device = get_device(args.device)
    n_labels, loop_n, n_train = (100_000, 5_000, 10_000) if args.quick else (1_000_000, 20_000, 60_000)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, device {device}")
    bench_labels(n_labels, loop_n, device)
    bench_epoch(n_train, device)


if __name__ == "__main__":
    main()
