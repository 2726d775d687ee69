"""A small self-supervised encoder (SimSiam) whose features ICM clusters.

SimSiam (Chen & He 2021, "Exploring Simple Siamese Representation Learning"): two augmented views
x₁, x₂ of each image; encoder f (backbone + projector), predictor h; with z = f(x), p = h(z),

    L = −½·cos(p₁, sg(z₂)) − ½·cos(p₂, sg(z₁))      (sg: stop-gradient)

The ICM authors cluster L2-normalised SimSiam ResNet-18 features (Mai & Lin 2025). labkit's default
is a small CNN and augmentations suited to small grey or colour images (random affine: scale,
rotation, shift; brightness/contrast jitter; pixel noise; no flips, which change digits), drawn
for the whole batch at once from a seeded CPU generator. A few minutes on CPU for digits.
Taught in notebooks/03_intra_cluster_mixup.ipynb.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import pick
from ..data import DeviceLoader
from ..device import get_device, make_generator
from ..models import build_model
from ..train import fit

__all__ = ["augment_views", "SimSiam", "train_simsiam"]


def augment_views(x: torch.Tensor, generator: torch.Generator, *, scale=(0.8, 1.1), degrees: float = 15.0,
                  shift: float = 0.12, jitter: float = 0.3, noise: float = 0.05) -> torch.Tensor:
    """One random view of every image in the batch (B, C, H, W), vectorised with ``affine_grid``.

    Flat inputs (B, D) get Gaussian noise and a random 20% feature dropout instead.
    """
    b, device = len(x), x.device

    def u(lo, hi, *shape):
        return (lo + (hi - lo) * torch.rand(b, *shape, generator=generator)).to(device)

    if x.ndim != 4:
        keep = (u(0, 1, *x.shape[1:]) > 0.2).to(x.dtype)
        return x * keep + noise * torch.randn(x.shape, generator=generator).to(device)
    s, angle = u(*scale), u(-degrees, degrees) * math.pi / 180
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack([torch.stack([cos, -sin, u(-shift, shift) * 2], 1),
                         torch.stack([sin, cos, u(-shift, shift) * 2], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)
    contrast, bright = u(1 - jitter, 1 + jitter, 1, 1, 1), u(-jitter / 3, jitter / 3, 1, 1, 1)
    out = out * contrast + bright + noise * torch.randn(x.shape, generator=generator).to(device)
    return out.clamp(0, 1)


class SimSiam(nn.Module):
    """Backbone (a labkit model's ``features``), 2-layer projector with BN, bottleneck predictor."""

    def __init__(self, backbone: nn.Module, feature_dim: int, proj_dim: int = 128, pred_dim: int = 32):
        super().__init__()
        self.backbone = backbone
        self.projector = nn.Sequential(
            nn.Linear(feature_dim, proj_dim, bias=False), nn.BatchNorm1d(proj_dim), nn.ReLU(),
            nn.Linear(proj_dim, proj_dim, bias=False), nn.BatchNorm1d(proj_dim, affine=False))
        self.predictor = nn.Sequential(nn.Linear(proj_dim, pred_dim, bias=False), nn.BatchNorm1d(pred_dim),
                                       nn.ReLU(), nn.Linear(pred_dim, proj_dim))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone embedding that is clustered (not the projection)."""
        return self.backbone.features(x)

    def forward(self, x: torch.Tensor):
        z = self.projector(self.features(x))
        return z, self.predictor(z)


def _simsiam_loss(generator):
    def loss_fn(model, batch):
        x = batch[0]
        z1, p1 = model(augment_views(x, generator))
        z2, p2 = model(augment_views(x, generator))
        loss = -0.5 * (F.cosine_similarity(p1, z2.detach(), dim=1).mean()
                       + F.cosine_similarity(p2, z1.detach(), dim=1).mean())
        # the std of normalised z near 0 signals collapse; 1/sqrt(dim) is healthy (Chen & He 2021)
        return {"loss": loss, "z_std": F.normalize(z1.detach(), dim=1).std(0).mean()}
    return loss_fn


def train_simsiam(x, *, backbone: str = "cnn", epochs: int | None = None, batch_size: int = 256,
                  lr: float = 3e-3, seed: int = 0, device=None, progress: bool = False,
                  return_history: bool = False):
    """Train a SimSiam encoder on inputs ``x`` (a tensor or a labkit Dataset; labels are not used).

    Returns the :class:`SimSiam` model (its ``.features`` is the embedding to cluster), and the
    training History too with ``return_history=True`` (``z_std`` ≈ 0 would mean collapse).
    Default epochs: 60 (quick mode: 5).
    """
    x = x.x if hasattr(x, "x") else torch.as_tensor(x, dtype=torch.float32)
    if len(x) < 2:
        raise ValueError("SimSiam needs at least 2 examples (batch norm)")
    epochs = epochs if epochs is not None else pick(60, 5)
    device = get_device(device)
    in_shape = tuple(x.shape[1:])
    with torch.random.fork_rng(devices=[]):  # seeded weights without touching the caller's RNG
        torch.manual_seed(seed)
        net = build_model(backbone if len(in_shape) == 3 else "mlp", in_shape, 2)
        model = SimSiam(net, net.feature_dim)
    loader = DeviceLoader(x, batch_size=min(batch_size, len(x)), seed=seed, device=device, drop_last=True)
    history = fit(model, loader, _simsiam_loss(make_generator(seed + 1)), epochs=epochs, lr=lr,
                  optimizer="adamw", weight_decay=1e-4, scheduler="cosine", progress=progress, amp=True)
    model.eval()
    return (model, history) if return_history else model
