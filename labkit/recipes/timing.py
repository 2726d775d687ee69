"""One real-size training epoch of a recipe on random data of the real shape: images per second.

A lent GPU machine often has neither a network nor the datasets, yet the question "how long will this
recipe take there?" only needs the shapes. :func:`time_recipe` builds, for each network of a recipe,
the recipe's training step exactly as its runner does (the same model, loss, augmentation, loader
and optimiser, through :func:`labkit.fit`), feeds it random tensors of the real data's shape (50,000
CIFAR-10-shaped images, 60,000 MNIST-shaped ones, the long-tailed CIFAR-10 counts, 224-px slices),
warms it up on a few batches (kernel selection, allocator), then times ONE full epoch. One-time set-up
(k-means for ICM, tokenising the reports) is timed apart. What is not reproduced: the numbers (the
labels are random), pretrained weights (speed does not depend on them) and ICM's SimSiam features
(the clusters come from PCA of the random pixels: a step costs the same whatever was clustered).
"""
from __future__ import annotations

import time

import torch

__all__ = ["time_recipe", "DATA_SHAPES"]

#: dataset name -> (example shape, classes, training-set size)
DATA_SHAPES = {"mnist": ((1, 28, 28), 10, 60_000), "fashion-mnist": ((1, 28, 28), 10, 60_000),
               "kmnist": ((1, 28, 28), 10, 60_000), "cifar10": ((3, 32, 32), 10, 50_000),
               "cifar20": ((3, 32, 32), 20, 50_000), "digits": ((1, 8, 8), 10, 1_347)}
WARMUP_BATCHES = 3


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _random_images(n: int, shape, classes: int, seed: int = 0):
    from ..data import from_arrays

    g = torch.Generator().manual_seed(seed)
    return from_arrays(torch.rand(n, *shape, generator=g), torch.randint(classes, (n,), generator=g))


def _shape(config, n: int | None):
    if not isinstance(config.dataset, str) or config.dataset not in DATA_SHAPES:
        raise ValueError(f"timing knows the shapes of {', '.join(DATA_SHAPES)}, not of dataset {config.dataset!r}")
    shape, classes, size = DATA_SHAPES[config.dataset]
    return shape, classes, size if n is None else n


def _time_cll(config, n, device) -> dict:
    """A run_cll epoch: the method's loss (with Mixup / ICM when set) through fit and a DeviceLoader."""
    from ..cll import CLLObjective, make_method, sample_complementary, to_multi_hot, transition_matrix
    from ..data import DeviceLoader
    from ..models import build_model
    from ..train import fit

    shape, k, n = _shape(config, n)
    train = _random_images(n, shape, k)
    q = transition_matrix(config.transition, k, seed=0, noise=config.noise, concentration=config.concentration,
                          rho=config.rho)
    cl = sample_complementary(train.y, q, num_cl=config.num_cl, seed=0)
    if config.num_cl > 1:
        cl = to_multi_hot(cl, k)
    method = make_method(config.method, k, Q=q)
    aug, setup = None, 0.0
    if config.augment is not None:
        from ..mix import make_cll_augment

        method_ = "pca" if config.cluster_method == "simsiam" else config.cluster_method
        aug, setup = _timed(lambda: make_cll_augment(
            config.augment, train, num_classes=k, alpha=config.alpha, mix_prob=config.mix_prob,
            weighting=config.weighting, clusters=config.clusters, cluster_method=method_, seed=0,
            lam_per=config.lam_per))
    net = build_model(config.model, shape, k)
    objective = CLLObjective(method, aug)

    def epoch(m):
        loader = DeviceLoader(train.x[:m], cl[:m], train.y[:m], batch_size=config.batch_size, seed=0, device=device,
                              return_index=True)
        return fit(net, loader, objective, epochs=1, lr=config.lr, weight_decay=config.weight_decay, device=device,
                   progress=False)

    return _warm_then_time(epoch, n, config.batch_size, device, setup)


def _time_imbalanced(config, n, device) -> dict:
    """A fit_imbalanced epoch on the long-tailed counts of the real set, in the re-weighted phase."""
    from ..data import long_tail_counts
    from ..experiments import fit_imbalanced

    shape, k, size = _shape(config, None)
    counts = long_tail_counts(size // k, k, config.ratio, config.kind)
    if n is not None:  # the same profile, scaled down
        counts = [max(2, round(c * n / sum(counts))) for c in counts]
    g = torch.Generator().manual_seed(0)
    y = torch.repeat_interleave(torch.arange(k), torch.tensor(counts))
    y = y[torch.randperm(len(y), generator=g)]
    from ..data import from_arrays

    train = from_arrays(torch.rand(len(y), *shape, generator=g), y)
    kw = dict(model=config.model, batch_size=config.batch_size, optimizer=config.optimizer, lr=config.lr,
              weight_decay=config.weight_decay, alpha=config.alpha, r=config.r, kappa=config.kappa, tau=config.tau,
              k=config.k, lam_per=config.lam_per, loss_norm=config.loss_norm, select="last", device=device)

    def epoch(m):  # a warm-up subset keeps one example of every class (class-balanced weights need them)
        firsts = torch.stack([(train.y == c).nonzero()[0, 0] for c in range(k)])
        part = train.subset(torch.cat([firsts, torch.arange(m)]).unique()) if m < len(train) else train
        _, info = fit_imbalanced(part, config.strategy, epochs=1, drw_epoch=0, **kw)
        return info["history"]

    return _warm_then_time(epoch, len(train), config.batch_size, device, 0.0)


def _time_clip(config, n, device) -> dict:
    """A fit_clip epoch at the real image size; a Hugging Face text tower is replaced by a randomly
    initialised BERT of BERT-base's size (12 layers, 768 wide), which costs the same per step."""
    from ..clip import DualEncoder, fit_clip
    from ..clip.encoders import build_text_encoder, build_vision_encoder
    from ..data.lumbar import LumbarPairs, make_lumbar

    n = round(config.n_pairs * (1 - config.test_fraction - config.val_fraction)) if n is None else n
    pairs = make_lumbar(n, image_size=32, seed=0)  # reports and labels; the images are replaced below
    g = torch.Generator().manual_seed(0)
    data = LumbarPairs(torch.rand(n, 1, config.image_size, config.image_size, generator=g), pairs.y, pairs.reports)
    if config.text in ("minilm", "tiny-bert"):
        text = build_text_encoder(config.text, corpus=data.reports)
    else:
        text = build_text_encoder("tiny-bert", corpus=data.reports, hidden_size=768, num_layers=12, num_heads=12)
    vision = build_vision_encoder(config.vision, pretrained=False, image_size=config.image_size)
    model = DualEncoder(vision, text, config.head, config.embed_dim, freeze_text=config.freeze_text,
                        freeze_vision=config.freeze_vision)

    def epoch(m):
        part = data.subset(torch.arange(m)) if m < len(data) else data
        return fit_clip(model, part, loss=config.loss, epochs=1, batch_size=config.batch_size,
                        lr_encoders=config.lr_encoders, lr_heads=config.lr_heads, temperature=config.temperature,
                        device=device, progress=False)

    return _warm_then_time(epoch, n, config.batch_size, device, 0.0)


def _warm_then_time(epoch, n: int, batch_size: int, device, setup: float) -> dict:
    """Run ``epoch(m)`` on a few batches (warm-up), then on all ``n`` examples: its History's seconds."""
    epoch(min(n, WARMUP_BATCHES * batch_size))
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seconds = epoch(n).last["seconds"]
    _sync(device)
    out = {"n": n, "seconds": seconds, "images_per_s": n / seconds, "setup_s": setup}
    if device.type == "cuda":
        out["peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return out


_TIMERS = {"cll": _time_cll, "imbalanced": _time_imbalanced, "clip": _time_clip}


def time_recipe(recipe, configs, *, device=None, n: int | None = None, log=print) -> list[dict]:
    """Time one epoch of each network of ``configs`` (the last configuration of each: recipes list
    their costliest option last); returns one dict per network and logs one line each.

    ``n``: examples in the epoch (default: the real training set's size)."""
    from ..device import get_device

    device = get_device(device)
    chosen = {getattr(c, recipe.arch): c for c in configs}
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    out = []
    for arch, config in chosen.items():
        result = {"recipe": recipe.name, recipe.arch: arch, "device": str(device),
                  "batch_size": config.batch_size, **_TIMERS[recipe.story](config, n, device)}
        varied = ", ".join(f"{k}={getattr(config, k)}" for k in recipe.sweep if k != recipe.arch)
        memory = f", peak {result['peak_gib']:.1f} GiB" if "peak_gib" in result else ""
        setup = f" (set-up {result['setup_s']:.1f} s)" if result["setup_s"] else ""
        log(f"{recipe.name}: {arch}{', ' + varied if varied else ''}, batch {config.batch_size}, one epoch of "
            f"{result['n']:,} random examples on {device} ({where}): {result['seconds']:.2f} s, "
            f"{result['images_per_s']:,.{0 if result['images_per_s'] >= 100 else 1}f} images/s{memory}{setup}")
        out.append(result)
    return out
