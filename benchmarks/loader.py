"""DeviceLoader vs torch.utils.data.DataLoader over a TensorDataset (best of 3 each).

(a) one epoch of iteration with no work: the loader's own overhead;
(b) one epoch of MLP training (784 -> 256 -> 10, Adam) with the same loop body for both loaders.
Data: 60,000 random MNIST-shaped examples, batch 256. Run: ``python benchmarks/loader.py [--device cuda]``.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from labkit import build_model, get_device
from labkit.data import DeviceLoader


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def best_of(fn, device, repeats=3):
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--n", type=int, default=60_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--quick", action="store_true", help="10,000 examples")
    args = parser.parse_args(argv)
    device = get_device(args.device)
    n = 10_000 if args.quick else args.n
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)

    device_loader = DeviceLoader(x, y, batch_size=args.batch_size, seed=0, device=device)
    # The usual recipe: tensors on the CPU, batches collated and moved (pinned on CUDA).
    torch_loader = DataLoader(TensorDataset(x, y), batch_size=args.batch_size, shuffle=True,
                              pin_memory=device.type == "cuda")

    def iterate(loader, move):
        for xb, yb in loader:
            if move:
                xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)

    model = build_model("mlp", (1, 28, 28), 10, hidden=256, depth=1).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def train(loader, move):
        for xb, yb in loader:
            if move:
                xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    train(device_loader, False)  # warm-up (kernels, allocator)
    rows = []
    for task, fn in (("(a) iterate one epoch", iterate), ("(b) one epoch of MLP training", train)):
        t_dev = best_of(lambda: fn(device_loader, False), device)
        t_torch = best_of(lambda: fn(torch_loader, True), device)
        rows.append((task, t_torch, t_dev, t_torch / t_dev))
    print(f"device: {device}, n={n}, batch_size={args.batch_size}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}")
    print(f"{'task':<32}{'DataLoader s':>14}{'DeviceLoader s':>16}{'speed-up':>10}")
    for task, a, b, ratio in rows:
        print(f"{task:<32}{a:>14.4f}{b:>16.4f}{ratio:>9.1f}x")


if __name__ == "__main__":
    main()
