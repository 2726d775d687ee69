"""Pure plotly figure functions: data in, ``go.Figure`` out; no widgets, no display.

Widgets (:mod:`labkit.widgets`) call these to redraw; notebooks call them for the static figure of
the default setting. The plotly renderer is set once here so figures show in JupyterLab, in
nbviewer and in exported HTML (override with the ``PLOTLY_RENDERER`` environment variable).
"""
from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import torch

__all__ = ["embedding_scatter", "training_curves", "confusion_matrix", "image_grid", "heatmap",
           "PALETTE", "to_numpy"]

if "PLOTLY_RENDERER" not in os.environ:
    # mimetype for JupyterLab; "notebook" embeds plotly.js so nbviewer and exported HTML show it.
    pio.renderers.default = "plotly_mimetype+notebook"

# 20 distinguishable colours (Tableau 10 and its light variants), cycled for more classes.
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac", "#a0cbe8", "#ffbe7d", "#ff9d9a", "#86bcb6", "#8cd17d", "#f1ce63",
           "#d4a6c8", "#fabfd2", "#d7b5a6", "#79706e"]


def to_numpy(a) -> np.ndarray:
    """Tensor (any device) or array-like to a NumPy array."""
    if isinstance(a, torch.Tensor):
        return a.detach().float().cpu().numpy() if a.is_floating_point() else a.detach().cpu().numpy()
    return np.asarray(a)


def _layout(fig: go.Figure, title: str | None, height: int | None = None, width: int | None = None) -> go.Figure:
    fig.update_layout(title=title, template="plotly_white", margin=dict(l=40, r=20, t=50 if title else 20, b=40),
                      height=height, width=width)
    return fig


def embedding_scatter(xy, labels=None, *, classes: Sequence[str] | None = None, hover: Sequence[str] | None = None,
                      color=None, colorbar_title: str = "", title: str | None = None, marker_size: int = 5,
                      highlight=None, height: int = 480, width: int | None = None) -> go.Figure:
    """A 2-D scatter of an embedding (WebGL, so tens of thousands of points stay fluid).

    ``labels`` colour points by class (one trace per class, so the legend toggles classes);
    ``color`` (a float per point) colours them continuously instead. ``hover`` adds a text per
    point; ``highlight`` (indices) draws those points on top with a black ring.
    """
    xy = to_numpy(xy)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"xy must have shape (N, 2), got {xy.shape}")
    n = len(xy)
    hover = list(hover) if hover is not None else [f"#{i}" for i in range(n)]
    if len(hover) != n:
        raise ValueError(f"hover has {len(hover)} texts for {n} points")
    fig = go.Figure()
    if color is not None:
        c = to_numpy(color).astype(float)
        if len(c) != n:
            raise ValueError(f"color has {len(c)} values for {n} points")
        fig.add_trace(go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers", text=hover, hoverinfo="text",
                                   marker=dict(size=marker_size, color=c, colorscale="Viridis", showscale=True,
                                               colorbar=dict(title=colorbar_title)), showlegend=False))
    elif labels is not None:
        lab = to_numpy(labels).astype(int)
        if len(lab) != n:
            raise ValueError(f"labels has {len(lab)} values for {n} points")
        names = list(classes) if classes is not None else [str(c) for c in range(int(lab.max()) + 1)]
        for c in np.unique(lab):
            m = lab == c
            fig.add_trace(go.Scattergl(x=xy[m, 0], y=xy[m, 1], mode="markers", name=names[c],
                                       text=[hover[i] for i in np.nonzero(m)[0]], hoverinfo="text",
                                       marker=dict(size=marker_size, color=PALETTE[c % len(PALETTE)])))
    else:
        fig.add_trace(go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers", text=hover, hoverinfo="text",
                                   marker=dict(size=marker_size, color=PALETTE[0]), showlegend=False))
    if highlight is not None and len(highlight):
        h = to_numpy(highlight).astype(int)
        fig.add_trace(go.Scattergl(x=xy[h, 0], y=xy[h, 1], mode="markers", name="highlighted",
                                   text=[hover[i] for i in h], hoverinfo="text",
                                   marker=dict(size=marker_size + 6, color="rgba(0,0,0,0)",
                                               line=dict(color="black", width=2))))
    fig.update_xaxes(showticklabels=False, title=None)
    fig.update_yaxes(showticklabels=False, title=None)
    return _layout(fig, title, height, width)


def training_curves(histories, keys: Sequence[str] = ("loss",), *, title: str | None = None,
                    height: int = 360) -> go.Figure:
    """Per-epoch curves of ``keys`` for one History or a dict ``{name: History}`` (one line each)."""
    if not isinstance(histories, Mapping):
        histories = {"": histories}
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(keys), subplot_titles=list(keys))
    for j, (name, h) in enumerate(histories.items()):
        for i, key in enumerate(keys, 1):
            values = [r.get(key) for r in h]
            epochs = [r.get("epoch", e + 1) for e, r in enumerate(h)]
            fig.add_trace(go.Scatter(x=epochs, y=values, mode="lines+markers", name=name or key,
                                     legendgroup=name, showlegend=(i == 1 and bool(name)),
                                     line=dict(color=PALETTE[j % len(PALETTE)])), row=1, col=i)
            fig.update_xaxes(title_text="epoch", row=1, col=i)
    return _layout(fig, title, height)


def confusion_matrix(confusion, classes: Sequence[str] | None = None, *, normalize: bool = True,
                     title: str | None = None, height: int = 420) -> go.Figure:
    """Heatmap of a confusion matrix (rows: true class, columns: predicted), row-normalised by default."""
    c = to_numpy(confusion).astype(float)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ValueError(f"confusion must be a square matrix, got shape {c.shape}")
    z = c / np.maximum(c.sum(1, keepdims=True), 1) if normalize else c
    names = list(classes) if classes is not None else [str(i) for i in range(len(c))]
    text = [[f"{int(c[i, j])}" for j in range(len(c))] for i in range(len(c))]
    fig = go.Figure(go.Heatmap(z=z, x=names, y=names, text=text, texttemplate="%{text}", colorscale="Blues",
                               hovertemplate="true %{y}<br>predicted %{x}<br>%{z:.2f}<extra></extra>",
                               zmin=0, zmax=1 if normalize else None))
    fig.update_yaxes(autorange="reversed", title="true class")
    fig.update_xaxes(title="predicted class", side="bottom")
    return _layout(fig, title, height)


def heatmap(matrix, *, x: Sequence[str] | None = None, y: Sequence[str] | None = None, title: str | None = None,
            colorscale: str = "Blues", zmin=None, zmax=None, text_format: str = ".2f", height: int = 380,
            width: int | None = None) -> go.Figure:
    """A labelled heatmap with the values written in the cells (e.g. a transition matrix Q)."""
    z = to_numpy(matrix).astype(float)
    if z.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {z.shape}")
    xs = list(x) if x is not None else [str(i) for i in range(z.shape[1])]
    ys = list(y) if y is not None else [str(i) for i in range(z.shape[0])]
    fig = go.Figure(go.Heatmap(z=z, x=xs, y=ys, colorscale=colorscale, zmin=zmin, zmax=zmax,
                               texttemplate="%{z:" + text_format + "}" if z.size <= 400 else None))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title, height, width)


def image_grid(images, titles: Sequence[str] | None = None, *, ncols: int = 10, title: str | None = None,
               gap: int = 1, cell_px: int = 64) -> go.Figure:
    """Tile images (N, C, H, W) or (N, H, W) in [0, 1] into one picture with a caption per tile."""
    imgs = to_numpy(images).astype(float)
    if imgs.ndim == 4:
        imgs = imgs.transpose(0, 2, 3, 1)  # N, H, W, C
        if imgs.shape[-1] == 1:
            imgs = imgs[..., 0]
    if imgs.ndim not in (3, 4) or len(imgs) == 0:
        raise ValueError(f"images must be a non-empty batch (N, C, H, W) or (N, H, W), got {imgs.shape}")
    n, h, w = imgs.shape[:3]
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    colour = imgs.ndim == 4
    canvas = np.ones((nrows * (h + gap) - gap, ncols * (w + gap) - gap) + ((3,) if colour else ()))
    for i in range(n):
        r, c = divmod(i, ncols)
        canvas[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = np.clip(imgs[i], 0, 1)
    if colour:
        fig = go.Figure(go.Image(z=(canvas * 255).astype(np.uint8), hoverinfo="skip"))
    else:
        fig = go.Figure(go.Heatmap(z=canvas, colorscale="gray", reversescale=False, showscale=False,
                                   hoverinfo="skip", zmin=0, zmax=1))
        fig.update_yaxes(autorange="reversed")
    if titles is not None:
        for i, t in enumerate(list(titles)[:n]):
            r, c = divmod(i, ncols)
            fig.add_annotation(x=c * (w + gap) + w / 2 - 0.5, y=r * (h + gap) - 0.5, text=str(t), showarrow=False,
                               yshift=8, font=dict(size=10))
    fig.update_xaxes(visible=False, scaleanchor="y", constrain="domain")
    fig.update_yaxes(visible=False)
    extra = 18 if titles is not None else 0
    return _layout(fig, title, height=nrows * (cell_px + extra) + (60 if title else 30),
                   width=max(ncols * cell_px + 60, 300))


# ====================================================== story figures (one section per notebook)
# --- 01 complementary labels
# --- 02/03 mixup noise and intra-cluster mixup
# --- 04 smote to mixup, margins
# --- 05 clip alignment
