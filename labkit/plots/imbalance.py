"""Figures of notebooks/04_smote_to_mixup_margins.ipynb: the long-tailed 2-D toy, the label
weights of Mixup, Remix and MAMix, and per-class margin profiles."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from .._arrays import to_numpy
from .core import PALETTE, _layout

__all__ = ["imbalance_toy_figure", "label_weight_curves", "margin_profile"]


def imbalance_toy_figure(x, y, grid: Mapping, *, x_syn=None, t_syn=None, distances=None,
                         classes: Sequence[str] | None = None, title: str | None = None,
                         height: int = 430) -> go.Figure:
    """A trained 2-D toy: decision regions (``grid`` from :func:`labkit.mix.decision_grid`), the
    training points, synthetic points ``x_syn`` (hollow, coloured by the class with the largest
    weight in ``t_syn``: hard labels (M,) or soft (M, K)), and, on the right, each class's distance
    to the boundary (mean and 5% quantile of ``distances`` from :func:`labkit.mix.boundary_distances`),
    classes in the order given (class 0 the head)."""
    from plotly.subplots import make_subplots

    x, y = to_numpy(x), to_numpy(y).astype(int)
    if x.ndim != 2 or x.shape[1] != 2 or len(x) != len(y):
        raise ValueError(f"need 2-D points (N, 2) and N labels, got {x.shape} and {y.shape}")
    k = int(max(y.max(), to_numpy(grid["pred"]).max())) + 1
    names = list(classes) if classes is not None else [f"class {c}" for c in range(k)]
    counts = np.bincount(y, minlength=k)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.62, 0.38], horizontal_spacing=0.1,
                        subplot_titles=("decision regions", "distance to the boundary"))
    scale = [[c / max(k - 1, 1), PALETTE[c % len(PALETTE)]] for c in range(k)]
    fig.add_trace(go.Heatmap(x=to_numpy(grid["xs"]), y=to_numpy(grid["ys"]), z=to_numpy(grid["pred"]),
                             colorscale=scale, zmin=0, zmax=max(k - 1, 1), opacity=0.25, showscale=False,
                             hoverinfo="skip"), row=1, col=1)
    for c in range(k):
        m = y == c
        fig.add_trace(go.Scatter(x=x[m, 0], y=x[m, 1], mode="markers", name=f"{names[c]} (n={counts[c]})",
                                 legendgroup=str(c), marker=dict(size=6, color=PALETTE[c % len(PALETTE)],
                                                                 line=dict(width=0.5, color="white"))),
                      row=1, col=1)
    if x_syn is not None and len(x_syn):
        xs, ts = to_numpy(x_syn), to_numpy(t_syn)
        lab = ts.argmax(1) if ts.ndim == 2 else ts.astype(int)
        share = ts.max(1) if ts.ndim == 2 else np.ones(len(xs))
        fig.add_trace(go.Scatter(x=xs[:, 0], y=xs[:, 1], mode="markers", name="synthetic",
                                 text=[f"label: {share[i]:.2f} {names[lab[i]]}" for i in range(len(xs))],
                                 hoverinfo="text",
                                 marker=dict(size=7, symbol="circle-open", opacity=0.8,
                                             color=[PALETTE[c % len(PALETTE)] for c in lab])), row=1, col=1)
    if distances is not None:
        d = to_numpy(distances).astype(float)
        means = [float(d[y == c].mean()) if (y == c).any() else np.nan for c in range(k)]
        q05 = [float(np.quantile(d[y == c], 0.05)) if (y == c).any() else np.nan for c in range(k)]
        labels = [f"{names[c]}<br>n={counts[c]}" for c in range(k)]
        fig.add_trace(go.Bar(x=labels, y=means, name="mean distance", marker_color="#4e79a7",
                             legendgroup="d"), row=1, col=2)
        fig.add_trace(go.Bar(x=labels, y=q05, name="5% quantile", marker_color="#bab0ac",
                             legendgroup="d"), row=1, col=2)
        fig.update_layout(barmode="group")
    fig.update_xaxes(range=[float(grid["xs"][0]), float(grid["xs"][-1])], row=1, col=1)
    fig.update_yaxes(range=[float(grid["ys"][0]), float(grid["ys"][-1])], scaleanchor="x", row=1, col=1)
    return _layout(fig, title, height)


def label_weight_curves(n_i: float = 5000, n_j: float = 50, r: float = -0.25, kappa: float = 3.0,
                        tau: float = 0.5, *, title: str | None = None, height: int = 380) -> go.Figure:
    """The weight w on y_i as a function of λ (x̃ = λ·x_i + (1 − λ)·x_j) for Mixup, Remix and
    MAMix (:mod:`labkit.mix.margin`), with MAMix's crossover (1 − m, ½) marked."""
    from ..mix.margin import mamix_m, mamix_weight, mixup_weight, remix_weight

    if not (n_i > 0 and n_j > 0):
        raise ValueError(f"class counts must be positive, got n_i={n_i}, n_j={n_j}")
    lam = torch.linspace(0, 1, 401)
    curves = {"Mixup": mixup_weight(lam), "Remix": remix_weight(lam, n_i, n_j, kappa=kappa, tau=tau),
              "MAMix": mamix_weight(lam, n_i, n_j, r=r)}
    fig = go.Figure()
    for (name, w), colour, dash in zip(curves.items(), PALETTE, ("dot", "dash", "solid")):
        fig.add_trace(go.Scatter(x=lam.numpy(), y=w.numpy(), mode="lines", name=name,
                                 line=dict(color=colour, dash=dash, width=3 if name == "MAMix" else 2)))
    m = float(mamix_m(n_i, n_j, r))
    fig.add_trace(go.Scatter(x=[1 - m], y=[0.5], mode="markers+text", name=f"1 − m = {1 - m:.3f}",
                             text=[f"  λ = 1 − m = {1 - m:.3f}"], textposition="middle right",
                             marker=dict(size=10, color="black")))
    fig.update_xaxes(title="λ: share of x_i in the input", range=[0, 1])
    fig.update_yaxes(title="w: weight on y_i in the label", range=[-0.02, 1.02])
    title = title or f"n_i = {n_i:g}, n_j = {n_j:g}, r = {r:g}: m = {m:.4f}"
    return _layout(fig, title, height)


def margin_profile(rows: Sequence[Mapping], stat: str = "margin_mean", *, by: str = "strategy",
                   title: str | None = None, height: int = 380) -> go.Figure:
    """Per-class margins from :func:`labkit.experiments.run_imbalanced` rows, classes sorted by
    training-set size (head left); one line per ``by`` value, mean ± std over its rows (seeds).
    ``stat``: ``margin_mean``, ``margin_q05`` or ``margin_min``."""
    if stat not in ("margin_mean", "margin_q05", "margin_min"):
        raise ValueError(f"stat must be margin_mean, margin_q05 or margin_min, got {stat!r}")
    if not rows:
        raise ValueError("margin_profile got no rows")
    counts = np.mean([r["class_counts"] for r in rows], axis=0)
    order = np.argsort(-counts, kind="stable")
    labels = [f"{c} (n={counts[c]:.0f})" for c in order]
    fig = go.Figure()
    groups: dict = {}
    for r in rows:
        groups.setdefault(r[by], []).append(np.asarray(r[stat], dtype=float))
    for i, (name, values) in enumerate(groups.items()):
        v = np.stack(values)[:, order]
        std = v.std(0, ddof=1) if len(v) > 1 else np.zeros(v.shape[1])
        fig.add_trace(go.Scatter(x=labels, y=v.mean(0), error_y=dict(type="data", array=std, visible=True),
                                 mode="lines+markers", name=f"{name} ({len(v)} runs)",
                                 line=dict(color=PALETTE[i % len(PALETTE)])))
    fig.add_hline(y=0, line=dict(color="grey", width=1))
    fig.update_xaxes(title="class (training count), sorted by size")
    fig.update_yaxes(title=f"{stat.replace('_', ' ')}: z_y − max z_j")
    return _layout(fig, title, height)
