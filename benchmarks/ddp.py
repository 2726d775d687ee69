"""Data-parallel training: W processes (DDP, ``fit(strategy="ddp")``) vs 1 process on the same global batch.

Both train the same model with :func:`labkit.fit` on the same data and the same global batch, so they
take the same optimisation steps; only the work per step is split. Prints steps/s of each and the
RATIO DDP / one process. On the CPU the W ranks are Gloo processes with one thread each, compared
with one process using 1 thread and using W threads (the same cores); their all-reduce of the
gradients goes through shared memory and costs a copy per step. The real gain is on several GPUs
(NCCL); with ``--device cuda`` and fewer than two GPUs only the one-process run is measured, and the
script says so. Timing starts after one warm-up epoch (fit's own per-epoch ``seconds``, averaged
over ranks). Run: ``OMP_NUM_THREADS=1 python benchmarks/ddp.py [--device cuda] [--quick] [--model mlp|cnn]``.
"""
from __future__ import annotations

import argparse
import os
import socket

import torch
import torch.nn.functional as F

from labkit import build_model, distributed, fit, get_device
from labkit.data import DeviceLoader


def _data(n):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def _loss(model, batch):
    return F.cross_entropy(model(batch[0]), batch[1])


def _steps_per_s(args, device, strategy, threads):
    """Steps per second of ``fit`` after one warm-up epoch (the same numbers on every rank)."""
    torch.set_num_threads(threads)
    x, y = _data(args.n)
    torch.manual_seed(0)
    model = build_model(args.model, (1, 28, 28), 10)
    loader = DeviceLoader(x, y, batch_size=args.batch_size, seed=0, device=device, drop_last=True)
    history = fit(model, loader, _loss, epochs=args.epochs + 1, lr=1e-3, device=device, progress=False,
                  strategy=strategy)
    seconds = sum(history["seconds"][1:])
    return args.epochs * len(loader) / seconds


def _rank(rank, world, port, args, queue):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world))
    device = distributed.init_process_group(get_device(args.device))  # on CUDA: this rank's own GPU
    rate = _steps_per_s(args, device, "ddp", 1)
    if rank == 0:
        queue.put(rate)


def _ddp_steps_per_s(args, world):
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    queue = mp.get_context("spawn").SimpleQueue()
    mp.start_processes(_rank, args=(world, port, args, queue), nprocs=world, start_method="spawn")
    return queue.get()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default=None, help="cpu or cuda (default: best available)")
    parser.add_argument("--model", default="mlp", choices=("mlp", "cnn"))
    parser.add_argument("--procs", type=int, default=2, help="data-parallel processes (default: 2)")
    parser.add_argument("--n", type=int, default=20_480, help="examples (random, MNIST-shaped)")
    parser.add_argument("--batch-size", type=int, default=256, help="the global batch")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs, after one warm-up epoch")
    parser.add_argument("--quick", action="store_true", help="5,120 examples, one timed epoch")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.epochs = 5_120, 1
    device = get_device(args.device)
    world = args.procs
    if device.type == "cuda" and torch.cuda.device_count() < world:
        print(f"{torch.cuda.device_count()} GPU(s) for {world} processes: DDP needs one GPU per process, so "
              f"only the one-process run is measured")
        world = 1
    print(f"device: {device}, model: {args.model}, n={args.n}, global batch {args.batch_size}, "
          f"{args.epochs} timed epoch(s), torch {torch.__version__}")
    one = _steps_per_s(args, device, "single", 1)
    print(f"{'1 process, 1 thread':<30}{one:>10.1f} steps/s")
    if device.type == "cpu":
        many = _steps_per_s(args, device, "single", world)
        print(f"{f'1 process, {world} threads':<30}{many:>10.1f} steps/s")
    if world > 1:
        ddp = _ddp_steps_per_s(args, world)
        print(f"{f'DDP, {world} processes':<30}{ddp:>10.1f} steps/s")
        print(f"ratio DDP / 1 process, 1 thread: {ddp / one:.2f}x")
        if device.type == "cpu":
            print(f"ratio DDP / 1 process, {world} threads: {ddp / many:.2f}x")


if __name__ == "__main__":
    main()
