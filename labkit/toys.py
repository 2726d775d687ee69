"""A long-tailed 2-D toy trained in a second or two: what notebook 04's interactive panel shows.

Lives next to the widgets that use it (:func:`labkit.widgets.imbalance_toy_panel`); the training
itself is :func:`labkit.experiments.fit_imbalanced`, the same code as the full experiments.
"""
from __future__ import annotations

__all__ = ["TOY_METHODS", "imbalanced_toy"]


TOY_METHODS = ("erm", "smote", "soft-smote", "mixup", "remix", "mamix", "mixup-drw", "mamix-drw", "ldam-drw")


def imbalanced_toy(*, ratio: float = 10.0, method: str = "mamix", alpha: float = 1.0, r: float = -0.25,
                   k: int = 5, n: int = 600, noise: float = 1.6, epochs: int = 60, seed: int = 0,
                   show: int = 150, resolution: int = 120) -> dict:
    """Train a small net on a long-tailed 2-D toy with one method, for the notebook-04 widget.

    Three Gaussian blobs (``noise``), made long-tailed with ``ratio`` (class 0 the head); an MLP
    (32 hidden units) trained ``epochs`` epochs with ``method`` (one of TOY_METHODS; DRW after 80%).
    Returns ``x``, ``y``, ``grid`` (decision regions), ``distances`` (signed distance of each
    training point to the boundary), ``x_syn``/``t_syn`` (up to ``show`` synthetic points the
    method creates: SMOTE's, soft SMOTE's, or one draw of mixed inputs with the rule's labels),
    ``model`` and ``seconds``. A second or two on a CPU.
    """
    import time

    import torch
    import torch.nn.functional as F

    from .data import load_dataset, make_long_tailed
    from .experiments import fit_imbalanced
    from .device import make_generator
    from .mix.margin import LABEL_WEIGHTS, boundary_distances, decision_grid
    from .mix.mixup import mix, random_partners, sample_lambda
    from .mix.smote import smote, soft_smote
    from .models import build_model

    if method not in TOY_METHODS:
        raise ValueError(f"unknown toy method {method!r}; valid: {', '.join(TOY_METHODS)}")
    start = time.perf_counter()
    data = make_long_tailed(load_dataset("blobs", num_classes=3, n=n, noise=noise, seed=seed), ratio, seed=seed)
    net = build_model("mlp", (2,), 3, hidden=32)
    model, info = fit_imbalanced(data, method, model=net, epochs=epochs, lr=1e-2, batch_size=64,
                                 weight_decay=1e-4, alpha=alpha, r=r, k=k, seed=seed, device="cpu")
    counts = data.class_counts().float()
    if method == "smote":
        x_syn, t_syn = smote(data.x, data.y, k=k, seed=seed)
    elif method == "soft-smote":
        x_syn, t_syn = soft_smote(data.x, data.y, k=k, seed=seed)
    elif method.removesuffix("-drw") in LABEL_WEIGHTS:
        g = make_generator(seed)
        p, lam = random_partners(len(data), g), sample_lambda(alpha, len(data), g)
        rule = method.removesuffix("-drw")
        kw = {"r": r} if rule == "mamix" else {}
        w = LABEL_WEIGHTS[rule](lam, counts[data.y], counts[data.y[p]], **kw)
        x_syn = mix(data.x, p, lam)
        t_syn = w[:, None] * F.one_hot(data.y, 3) + (1 - w)[:, None] * F.one_hot(data.y[p], 3)
    else:
        x_syn, t_syn = data.x[:0], data.y[:0]
    pick_g = make_generator(seed + 1)
    keep = torch.randperm(len(x_syn), generator=pick_g)[:show]
    grid = decision_grid(model, data.x, resolution=resolution, pad=1.0)
    return {"x": data.x, "y": data.y, "grid": grid, "distances": boundary_distances(model, data, grid=grid),
            "x_syn": x_syn[keep], "t_syn": t_syn[keep], "model": model, "counts": counts.long().tolist(),
            "seconds": time.perf_counter() - start}
