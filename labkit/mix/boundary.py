"""Margins and decision boundaries, measured: how far each class sits from the boundary a model learned.

Sample margin γ(x, y) = z_y − max_{j≠y} z_j (logits z; Cao et al. 2019), summarised per class (mean,
5% quantile, min) on the un-augmented training set; on a 2-D toy, the signed distance from each point
to the decision boundary on a grid. Where the boundary moves toward the majority class, the minority
margins grow: ERM < Mixup < MAMix is the picture notebook 04 measures (docs/reference.md §4.5).
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["sample_margins", "class_margins", "per_class_summary", "decision_grid", "boundary_distances"]


def sample_margins(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sample margins γ(x, y) = z_y − max_{j≠y} z_j, shape (N,); negative means misclassified."""
    if logits.ndim != 2 or y.shape != logits.shape[:1]:
        raise ValueError(f"need logits (N, K) and labels (N,), got {tuple(logits.shape)} and {tuple(y.shape)}")
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.scatter(1, y[:, None], -math.inf)
    return z_y - others.max(1).values


def per_class_summary(values: torch.Tensor, y: torch.Tensor, num_classes: int, q: float = 0.05) -> dict:
    """Per class: ``mean``, ``q05`` (the ``q`` quantile) and ``min`` of ``values``, plus ``count``;
    lists of length K (NaN for a class with no example)."""
    values, y = values.float().cpu(), y.cpu()
    out = {"mean": [], "q05": [], "min": [], "count": []}
    for c in range(num_classes):  # K is small; each class is one vectorised reduction
        v = values[y == c]
        out["count"].append(int(len(v)))
        if len(v) == 0:
            for key in ("mean", "q05", "min"):
                out[key].append(float("nan"))
            continue
        out["mean"].append(float(v.mean()))
        out["q05"].append(float(torch.quantile(v, q)))
        out["min"].append(float(v.min()))
    return out


def _xy(data):
    if hasattr(data, "x") and hasattr(data, "y"):
        return data.x, data.y, getattr(data, "num_classes", None)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return torch.as_tensor(data[0]), torch.as_tensor(data[1]).long(), None
    raise ValueError("data must be a labkit Dataset or an (x, y) pair")


def class_margins(model: nn.Module, data, *, normalize: bool = False, q: float = 0.05,
                  batch_size: int = 1024) -> dict:
    """Per-class margins of ``model`` on un-augmented ``data``: mean, ``q``-quantile (default 5%)
    and min of γ(x, y) = z_y − max_{j≠y} z_j (docs/reference.md §4.5), plus counts.

    ``normalize=True`` divides each margin by ‖w_y − w_j*‖ (j* the runner-up, w the rows of a
    linear head): the distance in feature space to the y-vs-j* boundary, comparable across models
    whose logits have different scales.
    """
    from ..train import logits as all_logits

    x, y, k = _xy(data)
    z = all_logits(model, (x, y), batch_size=batch_size)
    y = y.to(z.device)
    k = k or z.shape[1]
    gamma = sample_margins(z, y)
    if normalize:
        head = getattr(model, "head", None)
        if not isinstance(head, nn.Linear):
            raise ValueError("normalize=True needs a model with a linear .head")
        runner_up = z.scatter(1, y[:, None], -math.inf).argmax(1)
        w = head.weight.detach().float().to(z.device)
        gamma = gamma / (w[y] - w[runner_up]).norm(dim=1).clamp_min(1e-12)
    return per_class_summary(gamma, y, k, q)


# ------------------------------------------------------------------------------- 2-D toys

def decision_grid(model: nn.Module, x, *, resolution: int = 150, pad: float = 0.5, bounds=None) -> dict:
    """Predicted class on a ``resolution``² grid covering 2-D points ``x`` (plus ``pad``):
    ``{"xs", "ys", "pred" (res, res) with pred[row=y, col=x]}``; ``bounds`` = (x0, x1, y0, y1)."""
    from ..train import predict

    x = torch.as_tensor(x, dtype=torch.float32).cpu()
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"decision regions need 2-D points (N, 2), got shape {tuple(x.shape)}")
    if bounds is None:
        lo, hi = x.min(0).values - pad, x.max(0).values + pad
        bounds = (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
    xs = torch.linspace(bounds[0], bounds[1], resolution)
    ys = torch.linspace(bounds[2], bounds[3], resolution)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pred = predict(model, torch.stack([gx.flatten(), gy.flatten()], 1)).cpu().view(resolution, resolution)
    return {"xs": xs, "ys": ys, "pred": pred}


def boundary_distances(model: nn.Module, data, *, resolution: int = 200, grid: dict | None = None) -> torch.Tensor:
    """Signed distance from each 2-D point to the model's decision boundary, (N,).

    The boundary is found on a ``resolution``² grid (cells whose predicted class differs from a
    neighbour's, at the midpoint); the distance is to the nearest such point, positive when the
    point is classified correctly, negative otherwise. Accurate to about one grid step.
    """
    x, y, _ = _xy(data)
    x, y = x.float().cpu(), y.cpu()
    grid = grid or decision_grid(model, x, resolution=resolution)
    xs, ys, pred = grid["xs"], grid["ys"], grid["pred"]
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = []
    for axis in (0, 1):  # vertical and horizontal neighbours: both kinds of boundary crossing
        a = [slice(None), slice(None)]
        b = [slice(None), slice(None)]
        a[axis], b[axis] = slice(None, -1), slice(1, None)
        change = pred[tuple(a)] != pred[tuple(b)]
        mid_x = (gx[tuple(a)] + gx[tuple(b)]) / 2
        mid_y = (gy[tuple(a)] + gy[tuple(b)]) / 2
        pts.append(torch.stack([mid_x[change], mid_y[change]], 1))
    pts = torch.cat(pts)
    if len(pts) == 0:
        return torch.full((len(x),), math.inf)
    dist = torch.cdist(x, pts).min(1).values
    from ..train import predict
    correct = predict(model, x).cpu() == y
    return torch.where(correct, dist, -dist)
