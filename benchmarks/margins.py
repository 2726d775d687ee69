"""Speed of the margin-aware pieces of notebook 04, printed as ratios.

1. MAMix label weights for a batch: labkit's vectorised ``mamix_weight`` vs a per-example Python loop
   (how imbalanced-DL computes them). Target: >= 20x.
2. One ``mamix-drw`` training epoch vs one ``erm`` epoch on the same long-tailed data and model
   (mixing adds no second forward pass). Target: <= 1.3x.

    python benchmarks/margins.py [--device cpu|cuda] [--quick]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from labkit.data import DeviceLoader, load_dataset, make_long_tailed
from labkit.device import get_device, set_seed
from labkit.mix.margin import ImbalancedLoss, mamix_weight
from labkit.models import build_model


def mamix_loop(lam, y, partner, counts, r=-0.25):
    """The per-example way (as imbalanced-DL computes MAMix targets): look up both class counts
    with one ``.item()`` each, apply the scalar formula pair by pair, rebuild a tensor."""
    out = []
    for i in range(len(y)):
        n_i = counts[y[i]].item()
        n_j = counts[y[partner[i]]].item()
        m = n_i ** r / (n_i ** r + n_j ** r)
        l = lam[i].item()
        out.append(l / (2 * (1 - m)) if l <= 1 - m else 1 - (1 - l) / (2 * m))
    return torch.tensor(out, device=y.device)


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_weights(device, batch: int, repeats: int) -> None:
    g = torch.Generator().manual_seed(0)
    counts = torch.tensor([5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50], dtype=torch.float32)
    y = torch.randint(0, 10, (batch,), generator=g).to(device)
    partner = torch.randperm(batch, generator=g).to(device)
    lam = torch.rand(batch, generator=g).to(device)
    counts = counts.to(device)
    assert torch.allclose(mamix_weight(lam, counts[y], counts[y[partner]]), mamix_loop(lam, y, partner, counts),
                          atol=1e-5)

    def vectorised():
        w = mamix_weight(lam, counts[y], counts[y[partner]])
        if device.type == "cuda":
            torch.cuda.synchronize()
        return w

    vectorised()
    t_vec = best_time(vectorised, repeats)
    t_loop = best_time(lambda: mamix_loop(lam, y, partner, counts), max(1, repeats // 5))
    print(f"MAMix weights, batch {batch} on {device}: vectorised {t_vec * 1e6:.0f} us, "
          f"per-example loop {t_loop * 1e6:.0f} us -> {t_loop / t_vec:.1f}x faster (target >= 20x)")


def _clock(device):
    # CPU: this process's CPU time, so other jobs on a shared machine do not distort the ratio;
    # GPU: wall time after a synchronize.
    if device.type == "cuda":
        def clock():
            torch.cuda.synchronize()
            return time.perf_counter()
        return clock
    return time.process_time


def bench_epochs(device, model_name: str, epochs: int, repeats: int, ratio: float) -> None:
    lt = make_long_tailed(load_dataset("digits"), ratio, seed=0)
    counts = lt.class_counts()
    clock = _clock(device)
    per_epoch = {}
    for strategy in ("erm", "mamix-drw"):
        times = []
        for rep in range(repeats + 1):  # the first run warms up
            set_seed(rep)
            model = build_model(model_name, lt.in_shape, lt.num_classes).to(device)
            loss_fn = ImbalancedLoss(strategy, counts, drw_epoch=epochs // 2, seed=rep).to(device)
            loader = DeviceLoader(lt, batch_size=64, seed=rep, device=device)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            for epoch in range(1, epochs + 1):  # fit's inner loop, timed per epoch
                loss_fn.set_epoch(epoch)
                start = clock()
                for batch in loader:
                    loss = loss_fn(model, batch)["loss"]
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                if rep:
                    times.append(clock() - start)
        per_epoch[strategy] = statistics.median(times)
    ratio_t = per_epoch["mamix-drw"] / per_epoch["erm"]
    print(f"one epoch of {model_name} on long-tailed digits ({len(lt)} examples, batch 64, {device}): "
          f"erm {per_epoch['erm'] * 1e3:.1f} ms, mamix-drw {per_epoch['mamix-drw'] * 1e3:.1f} ms "
          f"-> {ratio_t:.2f}x (target <= 1.3x)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a few seconds)")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--ratio", type=float, default=10.0)
    args = parser.parse_args(argv)
    device = get_device(args.device)
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 4)))
    repeats = 3 if args.quick else 10
    bench_weights(device, args.batch, repeats * 5)
    epochs = 3 if args.quick else 8
    for model_name in ("mlp", "cnn"):
        bench_epochs(device, model_name, epochs, 1 if args.quick else 3, args.ratio)


if __name__ == "__main__":
    main()
