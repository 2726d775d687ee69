"""Figures of notebooks/05_clip_embedding_alignment.ipynb: image-report galleries, target
matrices, the joint image-text map, retrieval rows and ablation bars."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from .._arrays import to_numpy
from .core import _layout, bar_style, embedding_scatter, image_grid

__all__ = ["report_gallery", "target_heatmaps", "joint_embedding", "retrieval_row", "ablation_bars"]


def _wrap(text: str, width: int = 38) -> str:
    """Break a report into lines of about ``width`` characters (plotly line breaks)."""
    import textwrap

    return "<br>".join(textwrap.wrap(str(text), width))


def report_gallery(images, reports: Sequence[str], titles: Sequence[str] | None = None, *, ncols: int = 4,
                   title: str | None = None, cell_px: int = 180, wrap: int = 34) -> go.Figure:
    """Images (N, 1, H, W) or (N, H, W) in [0, 1], each above its report (wrapped) and a title."""
    from plotly.subplots import make_subplots

    imgs = to_numpy(images).astype(float)
    imgs = imgs[:, 0] if imgs.ndim == 4 else imgs
    if imgs.ndim != 3 or len(imgs) != len(reports) or not len(reports):
        raise ValueError(f"need N images (N, [1,] H, W) and N reports, got {imgs.shape} and {len(reports)} reports")
    n = len(imgs)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    heads = [str(t) for t in titles] if titles is not None else [""] * n
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=heads, vertical_spacing=0.5 / nrows,
                        horizontal_spacing=0.03)
    for i in range(n):
        r, c = divmod(i, ncols)
        fig.add_trace(go.Heatmap(z=imgs[i], colorscale="gray", showscale=False, zmin=0, zmax=1,
                                 hoverinfo="skip"), row=r + 1, col=c + 1)
        fig.add_annotation(text=_wrap(reports[i], wrap), xref=f"x{i + 1 if i else ''} domain",
                           yref=f"y{i + 1 if i else ''} domain", x=0.5, y=-0.04, showarrow=False,
                           yanchor="top", font=dict(size=10), align="left")
    fig.update_xaxes(visible=False, scaleanchor="y", constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed")
    fig.update_annotations(selector=dict(yref="paper"), font=dict(size=11))  # the titles
    fig = _layout(fig, title, height=nrows * (cell_px + 110) + 60, width=ncols * cell_px + 80)
    return fig.update_layout(margin=dict(b=110))


def target_heatmaps(matrices: Mapping[str, object], labels: Sequence[str] | None = None, *,
                    title: str | None = None, height: int = 380) -> go.Figure:
    """Side-by-side heatmaps of B×B target (or logit) matrices, e.g. ``{"hard": T, "soft": Y}``;
    ``labels`` name the rows and columns (e.g. short report texts; duplicates are visible)."""
    from plotly.subplots import make_subplots

    if not matrices:
        raise ValueError("matrices must name at least one B×B matrix")
    mats = {k: to_numpy(v).astype(float) for k, v in matrices.items()}
    shapes = {m.shape for m in mats.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"every matrix must be 2-D and of one shape, got {sorted(shapes)}")
    b = next(iter(shapes))
    names = list(labels) if labels is not None else [str(i) for i in range(b[0])]
    fig = make_subplots(rows=1, cols=len(mats), subplot_titles=list(mats), horizontal_spacing=0.12)
    for j, m in enumerate(mats.values(), 1):
        fig.add_trace(go.Heatmap(z=m, x=[f"{i}" for i in range(b[1])], y=[f"{i}: {n}" for i, n in enumerate(names)],
                                 colorscale="Blues", zmin=0, zmax=max(1e-9, float(m.max())), showscale=(j == len(mats)),
                                 texttemplate="%{z:.2f}" if m.size <= 100 else None,
                                 hovertemplate="row %{y}<br>column %{x}<br>%{z:.3f}<extra></extra>"), row=1, col=j)
        fig.update_yaxes(autorange="reversed", showticklabels=(j == 1), row=1, col=j)
    return _layout(fig, title, height)


def joint_embedding(xy, classes_of_points, modality, *, color_by: str = "modality",
                    class_names: Sequence[str] | None = None, hover: Sequence[str] | None = None,
                    links: int = 0, title: str | None = None, height: int = 480) -> go.Figure:
    """A 2-D map of image AND text embeddings (stacked: images first, then texts).

    ``modality``: 0 for an image point, 1 for a text point; ``color_by``: "modality" or "class".
    ``links`` > 0 joins the first ``links`` image-text pairs (point i and its text) with grey lines.
    Distances on a UMAP are not embedding distances: measure the gap with ``modality_gap``.
    """
    if color_by not in ("modality", "class"):
        raise ValueError(f"color_by must be 'modality' or 'class', got {color_by!r}")
    xy, mod = to_numpy(xy), to_numpy(modality).astype(int)
    lab = to_numpy(classes_of_points).astype(int)
    if len(mod) != len(xy) or len(lab) != len(xy):
        raise ValueError(f"xy, classes_of_points and modality need one row per point: {len(xy)}, {len(lab)}, {len(mod)}")
    hover = list(hover) if hover is not None else [("report " if m else "image ") + f"#{i}" for i, m in enumerate(mod)]
    if color_by == "modality":
        fig = embedding_scatter(xy, mod, classes=["image", "report"], hover=hover, title=title, height=height)
    else:
        fig = embedding_scatter(xy, lab, classes=class_names, hover=hover, title=title, height=height)
        for trace in fig.data:  # texts as crosses, images as dots
            pts = np.asarray(trace.text)
            trace.marker.symbol = ["x" if str(t).startswith("report") else "circle" for t in pts]
    if links:
        img_idx, txt_idx = np.nonzero(mod == 0)[0], np.nonzero(mod == 1)[0]
        k = min(links, len(img_idx), len(txt_idx))
        xs, ys = [], []
        for a, b in zip(img_idx[:k], txt_idx[:k]):
            xs += [xy[a, 0], xy[b, 0], None]
            ys += [xy[a, 1], xy[b, 1], None]
        fig.add_trace(go.Scattergl(x=xs, y=ys, mode="lines", line=dict(color="rgba(0,0,0,0.25)", width=1),
                                   name="pairs", hoverinfo="skip"))
    return fig


def retrieval_row(query: str, images, titles: Sequence[str] | None = None, *, scores=None,
                  cell_px: int = 110) -> go.Figure:
    """A report and the images it retrieves (best first), captioned with their class and score."""
    imgs = to_numpy(images)
    caps = list(titles) if titles is not None else [""] * len(imgs)
    if scores is not None:
        caps = [f"{c} ({float(s):.2f})" for c, s in zip(caps, to_numpy(scores))]
    return image_grid(imgs, caps, ncols=len(imgs), title=_wrap(query, 110), cell_px=cell_px)


def ablation_bars(summary: Sequence[Mapping], metric: str, *, x: str = "head", group: str = "loss",
                  title: str | None = None, height: int = 360) -> go.Figure:
    """Grouped bars of ``metric`` (mean ± std over seeds, from ``experiments.summarize``) by ``x`` and ``group``."""
    if not summary:
        raise ValueError("summary is empty")
    if metric not in summary[0]:
        raise ValueError(f"no {metric!r} in the summary; it has {sorted(summary[0])}")
    fig = go.Figure()
    for j, g in enumerate(dict.fromkeys(r[group] for r in summary)):
        rows = [r for r in summary if r[group] == g]
        fig.add_trace(go.Bar(x=[str(r[x]) for r in rows], y=[r[metric] for r in rows], name=f"{group}={g}",
                             error_y=dict(type="data", array=[r.get(f"{metric}_std", 0.0) for r in rows]),
                             marker=bar_style(j)))
    fig.update_layout(barmode="group", yaxis_title=metric, xaxis_title=x)
    return _layout(fig, title, height)
