"""Figures of notebooks/02_mixup_complementary_noise.ipynb and 03_intra_cluster_mixup.ipynb:
Mixup pictures, Mixup's complementary-label noise against its closed forms, k-means cluster maps
and intra-cluster noise, augmentation bars."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from .._arrays import to_numpy
from .core import PALETTE, _layout, bar_style, embedding_scatter, image_grid

__all__ = ["mixup_strip", "cll_mix_pairs", "noise_vs_classes", "cluster_map", "noise_vs_clusters",
           "augment_bars"]


def mixup_strip(x_a, x_b, label_a: str, label_b: str, lams: Sequence[float] = (1.0, 0.75, 0.5, 0.25, 0.0), *,
                title: str | None = None) -> go.Figure:
    """Mixup on ordinary labels in one picture: x̃ = λ·x_a + (1 − λ)·x_b and its soft label
    λ·e(a) + (1 − λ)·e(b), one tile per λ (Zhang et al. 2018)."""
    xa, xb = to_numpy(x_a).astype(float), to_numpy(x_b).astype(float)
    if xa.shape != xb.shape:
        raise ValueError(f"x_a and x_b must have the same shape, got {xa.shape} and {xb.shape}")
    lams = [float(v) for v in lams]
    if not lams or any(not 0 <= v <= 1 for v in lams):
        raise ValueError("lams must be a non-empty list of weights in [0, 1]")
    tiles = np.stack([v * xa + (1 - v) * xb for v in lams])
    names = [f"{v:.2g}·{label_a} + {1 - v:.2g}·{label_b}" for v in lams]
    return image_grid(tiles, names, ncols=len(lams), title=title, cell_px=110)


def cll_mix_pairs(x, y, cl, partner, lam, *, classes: Sequence[str] | None = None, n: int = 6,
                  title: str | None = None) -> go.Figure:
    """Mixed pairs under complementary labels, one row per pair: x_i, its partner x_j, the mix.

    Captions give the true label y and the complementary label ȳ; a pair is NOISY (red frame) when
    ȳ_i = y_j or ȳ_j = y_i: the soft target then says "not c" about an input that is partly c.
    """
    x, y, cl = to_numpy(x).astype(float), to_numpy(y).astype(int), to_numpy(cl).astype(int)
    partner, lam = to_numpy(partner).astype(int), np.broadcast_to(to_numpy(lam).astype(float), y.shape)
    if not (len(x) == len(y) == len(cl) == len(partner)):
        raise ValueError("x, y, cl and partner must have the same length")
    n = min(int(n), len(y))
    if n < 1:
        raise ValueError("n must be at least 1")
    names = list(classes) if classes is not None else [str(c) for c in range(int(max(y.max(), cl.max())) + 1)]
    tiles, titles, noisy = [], [], []
    for i in range(n):
        j = partner[i]
        bad = cl[i] == y[j] or cl[j] == y[i]
        tiles += [x[i], x[j], lam[i] * x[i] + (1 - lam[i]) * x[j]]
        titles += [f"y={names[y[i]]}, ȳ={names[cl[i]]}", f"y={names[y[j]]}, ȳ={names[cl[j]]}",
                   f"λ={lam[i]:.2f} " + ("NOISY" if bad else "clean")]
        noisy.append(bad)
    fig = image_grid(np.stack(tiles), titles, ncols=3, title=title, cell_px=90)
    h, w = np.asarray(tiles[0]).shape[-2:]
    for r, bad in enumerate(noisy):
        if bad:
            x0, y0 = 2 * (w + 1) - 0.5, r * (h + 1) - 0.5
            fig.add_shape(type="rect", x0=x0, y0=y0, x1=x0 + w, y1=y0 + h, line=dict(color="#d62728", width=3))
    return fig


def noise_vs_classes(max_classes: int = 20, alpha: float = 0.2, n: int = 20000, transition: str = "uniform",
                     seed: int = 0, *, title: str | None = None, height: int = 380) -> go.Figure:
    """Simulated Mixup noise against the closed forms as the number of classes K grows.

    For each K: n balanced labels, one CL each from ``transition`` (labkit.cll.transition_matrix),
    random partners, λ ~ Beta(α, α). Left: fraction of noisy pairs vs Σ π_c π_c′ (Q[c,c′] + Q[c′,c] −
    Q[c,c′] Q[c′,c]) ((2K − 3)/(K(K − 1)) for uniform Q); right: noisy label mass vs Σ π_c π_c′ Q[c,c′] (1/K).
    """
    from plotly.subplots import make_subplots

    from ..cll import sample_complementary, transition_matrix
    from ..mix import expected_noisy_mass, expected_pair_noise, noisy_mass, pair_noise, random_partners, sample_lambda

    if not isinstance(max_classes, int) or max_classes < 4:
        raise ValueError(f"max_classes must be an integer >= 4, got {max_classes!r}")
    if not isinstance(n, int) or n < 100:
        raise ValueError(f"n must be an integer >= 100, got {n!r}")
    ks = list(range(4, max_classes + 1, max(1, (max_classes - 4) // 12)))
    g = torch.Generator().manual_seed(seed)
    measured, closed, mass, mass_closed = [], [], [], []
    for k in ks:
        q = transition_matrix(transition, k, seed=seed)
        y = torch.randint(k, (n,), generator=g)
        cl = sample_complementary(y, q, seed=g)
        partner = random_partners(n, g)
        measured.append(pair_noise(y, cl, partner))
        mass.append(noisy_mass(y, cl, partner, sample_lambda(alpha, n, g)))
        closed.append(expected_pair_noise(q))
        mass_closed.append(expected_noisy_mass(q))
    fig = make_subplots(rows=1, cols=2, subplot_titles=["fraction of noisy pairs", "noisy label mass"])
    for col, (m, c) in enumerate([(measured, closed), (mass, mass_closed)], 1):
        fig.add_trace(go.Scatter(x=ks, y=c, mode="lines", name="closed form", line=dict(color=PALETTE[0]),
                                 showlegend=col == 1), row=1, col=col)
        fig.add_trace(go.Scatter(x=ks, y=m, mode="markers", name=f"measured (n={n}, α={alpha:g})",
                                 marker=dict(color=PALETTE[2], size=8), showlegend=col == 1), row=1, col=col)
        fig.update_xaxes(title_text="number of classes K", row=1, col=col)
    fig.update_yaxes(tickformat=".0%")
    return _layout(fig, title or f"Mixup's complementary-label noise, {transition} Q", height)


def cluster_map(xy, cluster_ids, y, color_by: str = "cluster", *, noise_rate=None,
                classes: Sequence[str] | None = None, title: str | None = None, height: int = 480) -> go.Figure:
    """A 2-D map of the training set coloured by k-means ``cluster``, true ``class``, or ``noise``
    (per example, the chance that its pair with a random cluster-mate is noisy; see
    labkit.mix.cluster_noise_rate)."""
    cluster_ids, y = to_numpy(cluster_ids).astype(int), to_numpy(y).astype(int)
    hover = [f"#{i}: class {classes[t] if classes else t}, cluster {c}" for i, (t, c) in enumerate(zip(y, cluster_ids))]
    if color_by == "cluster":
        fig = embedding_scatter(xy, cluster_ids, classes=[f"cluster {c}" for c in range(int(cluster_ids.max()) + 1)],
                                hover=hover, title=title, height=height)
        return fig.update_layout(showlegend=False)
    if color_by == "class":
        return embedding_scatter(xy, y, classes=classes, hover=hover, title=title, height=height)
    if color_by == "noise":
        if noise_rate is None:
            raise ValueError("color_by='noise' needs noise_rate (labkit.mix.cluster_noise_rate)")
        rate = to_numpy(noise_rate).astype(float)
        hover = [f"{h}, noisy pairs {r:.0%}" for h, r in zip(hover, rate)]
        return embedding_scatter(xy, color=rate, colorbar_title="P(noisy pair)", hover=hover, title=title,
                                 height=height)
    raise ValueError(f"color_by must be 'cluster', 'class' or 'noise', got {color_by!r}")


def noise_vs_clusters(rows: Sequence[Mapping], *, title: str | None = None, height: int = 380) -> go.Figure:
    """Purity and intra-cluster pair noise against the number of clusters (rows of
    labkit.mix.cluster_noise_sweep), with the closed form (1 − p)(2K − 3)/(K − 1)² overlaid."""
    from plotly.subplots import make_subplots

    if not rows:
        raise ValueError("rows is empty: pass the output of labkit.mix.cluster_noise_sweep")
    k = [r["clusters"] for r in rows]
    fig = make_subplots(rows=1, cols=2, subplot_titles=["pair noise of intra-cluster partners", "purity"])
    fig.add_trace(go.Scatter(x=k, y=[r["noise"] for r in rows], mode="lines+markers", name="measured",
                             line=dict(color=PALETTE[2])), row=1, col=1)
    fig.add_trace(go.Scatter(x=k, y=[r["closed_form"] for r in rows], mode="lines", name="(1 − p)(2K − 3)/(K − 1)²",
                             line=dict(color=PALETTE[0], dash="dash")), row=1, col=1)
    fig.add_trace(go.Scatter(x=k, y=[r["purity"] for r in rows], mode="lines+markers", name="majority purity",
                             line=dict(color=PALETTE[4])), row=1, col=2)
    fig.add_trace(go.Scatter(x=k, y=[r["pair_purity"] for r in rows], mode="lines+markers",
                             name="pair purity p", line=dict(color=PALETTE[6])), row=1, col=2)
    fig.update_xaxes(type="log", title_text="number of clusters (1 = Mixup)")
    fig.update_yaxes(tickformat=".0%")
    return _layout(fig, title, height)


def augment_bars(summary: Sequence[Mapping], metric: str = "test_accuracy", *, x: str = "setting",
                 color: str = "augment", title: str | None = None, height: int = 400) -> go.Figure:
    """Grouped bars of ``metric`` (mean ± std over seeds, from labkit.experiments.summarize rows):
    one group per ``x`` value, one colour per ``color`` value."""
    if not summary:
        raise ValueError("summary is empty")
    if any(metric not in r for r in summary):
        raise ValueError(f"every summary row needs {metric!r}; the first has {sorted(summary[0])}")
    groups = list(dict.fromkeys(str(r.get(x)) for r in summary))
    kinds = list(dict.fromkeys(str(r.get(color)) for r in summary))
    fig = go.Figure()
    for i, kind in enumerate(kinds):
        sel = {str(r.get(x)): r for r in summary if str(r.get(color)) == kind}
        fig.add_trace(go.Bar(x=groups, y=[sel[gr][metric] if gr in sel else None for gr in groups], name=kind,
                             error_y=dict(type="data", array=[sel[gr].get(f"{metric}_std", 0) if gr in sel else 0
                                                              for gr in groups]),
                             marker=bar_style(i)))
    fig.update_layout(barmode="group", yaxis_title=metric.replace("_", " "))
    return _layout(fig, title, height)
