"""Generic plotly figures shared by every notebook: data in, ``go.Figure`` out; no widgets, no display.

Embedding scatter, training curves, confusion matrix, heatmap, image grid, results table, class
bars and thumbnails, the colour-blind-safe palette with marker shapes as a second channel, and the
plotly renderer setup (called once by :mod:`labkit.plots`). Serves notebooks/00_tour.ipynb and every later notebook; the story figures
live in :mod:`labkit.plots.cll` (01), :mod:`~labkit.plots.mixup` (02/03),
:mod:`~labkit.plots.imbalance` (04) and :mod:`~labkit.plots.clip` (05).
"""
from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from .._arrays import to_numpy

__all__ = ["embedding_scatter", "training_curves", "confusion_matrix", "image_grid", "heatmap",
           "PALETTE", "OKABE_ITO", "MARKERS", "PATTERNS", "to_numpy", "colour_column", "category_colours",
           "category_markers", "class_style", "bar_style", "thumbnail_png", "thumbnail_html", "class_bars",
           "results_table", "embedding_comparison"]

#: The Okabe–Ito palette (Okabe & Ito 2008, "Color Universal Design"): eight colours that stay
#: distinguishable with the common forms of colour-vision deficiency.
OKABE_ITO = {"blue": "#0072B2", "orange": "#E69F00", "bluish green": "#009E73", "vermillion": "#D55E00",
             "reddish purple": "#CC79A7", "sky blue": "#56B4E9", "yellow": "#F0E442", "black": "#000000"}
#: labkit's default colours: Okabe–Ito (yellow, pale on white, late), then grey and a dark wine for
#: ten classes, cycled beyond. Colour alone cannot separate ten classes for every reader, so
#: classes and methods also differ by marker shape (:data:`MARKERS`) or bar pattern (:data:`PATTERNS`).
PALETTE = [OKABE_ITO[c] for c in ("blue", "orange", "bluish green", "vermillion", "reddish purple", "sky blue",
                                  "black")] + ["#999999", OKABE_ITO["yellow"], "#882255"]
#: Marker shapes, the second channel: class c gets colour c mod 10 and a shape that differs from
#: every other class with the same colour (see :func:`class_style`). All draw in WebGL traces.
MARKERS = ["circle", "square", "diamond", "triangle-up", "cross", "x", "triangle-down", "star", "pentagon",
           "hexagon"]
#: Bar fill patterns, the second channel of bar charts ("" is a plain bar).
PATTERNS = ["", "/", "\\", "x", ".", "-", "|", "+"]


def _marker_index(c: int) -> int:
    # shift by one shape per full cycle of colours: (colour, shape) pairs are distinct for 100 classes
    return (c + c // len(PALETTE)) % len(MARKERS)


def class_style(c: int) -> dict:
    """The colour and marker shape of class (or method) ``c``: ``{"color": ..., "symbol": ...}``."""
    c = int(c)
    return {"color": PALETTE[c % len(PALETTE)], "symbol": MARKERS[_marker_index(c)]}


def bar_style(i: int) -> dict:
    """Colour and fill pattern of the ``i``-th bar series (a ``marker`` dict for ``go.Bar``)."""
    i = int(i)
    return {"color": PALETTE[i % len(PALETTE)], "pattern": {"shape": PATTERNS[i % len(PATTERNS)]}}


def _set_default_renderer() -> None:
    """Show figures in JupyterLab, nbviewer and exported HTML, unless ``PLOTLY_RENDERER`` chooses."""
    if "PLOTLY_RENDERER" not in os.environ:
        # mimetype for JupyterLab; "notebook" embeds plotly.js so nbviewer and exported HTML show it.
        pio.renderers.default = "plotly_mimetype+notebook"


def colour_column(values) -> tuple[np.ndarray | None, list[str] | np.ndarray]:
    """A colour-by column: ``(codes, names)`` for a categorical one (ints, strings, bools), or
    ``(None, floats)`` for a continuous one (float values)."""
    arr = to_numpy(values).reshape(-1)
    if arr.dtype.kind in "fc":
        return None, arr.astype(float)
    names = sorted(set(arr.tolist()), key=lambda v: (str(type(v)), v))
    lookup = {v: i for i, v in enumerate(names)}
    return np.fromiter((lookup[v] for v in arr.tolist()), dtype=int, count=len(arr)), [str(v) for v in names]


def category_colours(codes) -> np.ndarray:
    """One palette colour (hex string) per point from integer category codes."""
    palette = np.asarray(PALETTE, dtype=object)
    return palette[np.asarray(codes, dtype=int) % len(PALETTE)]


def category_markers(codes) -> np.ndarray:
    """One marker shape per point from integer category codes (the second channel beside colour)."""
    codes = np.asarray(codes, dtype=int)
    return np.asarray(MARKERS, dtype=object)[(codes + codes // len(PALETTE)) % len(MARKERS)]


def thumbnail_png(image, size: int = 64) -> bytes:
    """PNG bytes of one image (C, H, W) or (H, W) in [0, 1], enlarged without smoothing to ``size``."""
    import io

    from PIL import Image

    a = to_numpy(image).astype(float)
    if a.ndim == 3:
        a = a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)
    if a.ndim not in (2, 3):
        raise ValueError(f"an image must be (C, H, W) or (H, W), got shape {a.shape}")
    img = Image.fromarray((np.clip(a, 0, 1) * 255).astype(np.uint8))
    scale = max(1, size // max(img.size))
    img = img.resize((img.size[0] * scale, img.size[1] * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def thumbnail_html(image, caption: str = "", size: int = 64) -> str:
    """An inline ``<img>`` (base64 PNG) with a caption underneath, for side panels and galleries."""
    import base64
    import html

    data = base64.b64encode(thumbnail_png(image, size)).decode()
    return (f"<figure style='display:inline-block;margin:2px;text-align:center'>"
            f"<img src='data:image/png;base64,{data}' width='{size}' style='image-rendering:pixelated'/>"
            f"<figcaption style='font-size:10px'>{html.escape(caption)}</figcaption></figure>")


def class_bars(counts: Mapping[str, int], *, title: str | None = None, height: int = 220) -> go.Figure:
    """A bar chart of class counts (e.g. of a selection)."""
    names, values = list(counts), list(counts.values())
    fig = go.Figure(go.Bar(x=names, y=values, marker_color=PALETTE[0], text=values, textposition="auto"))
    return _layout(fig, title, height)


def _layout(fig: go.Figure, title: str | None, height: int | None = None, width: int | None = None) -> go.Figure:
    fig.update_layout(title=title, template="plotly_white", margin=dict(l=40, r=20, t=50 if title else 20, b=40),
                      height=height, width=width)
    return fig


def embedding_scatter(xy, labels=None, *, classes: Sequence[str] | None = None, hover: Sequence[str] | None = None,
                      color=None, colorbar_title: str = "", title: str | None = None, marker_size: int = 5,
                      highlight=None, height: int = 480, width: int | None = None) -> go.Figure:
    """A 2-D scatter of an embedding (WebGL, so tens of thousands of points stay fluid).

    ``labels`` colour points by class and give each class its marker shape (:func:`class_style`;
    one trace per class, so the legend toggles classes);
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
                                       marker=dict(size=marker_size, **class_style(c))))
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
    """Per-epoch curves of ``keys`` for one History or a dict ``{name: History}`` (one line each,
    told apart by colour and marker shape)."""
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
                                     line=dict(color=PALETTE[j % len(PALETTE)]),
                                     marker=dict(symbol=MARKERS[_marker_index(j)], size=7)), row=1, col=i)
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


def results_table(summary: Sequence[Mapping], columns: Sequence[str], *, first: str = "strategy",
                  highlight: Sequence[str] | None = None, digits: int = 3, title: str | None = None,
                  height: int | None = None) -> go.Figure:
    """A table of :func:`labkit.experiments.summarize` output: ``first`` column, ``n`` and each of
    ``columns`` as ``mean ± std``; the largest mean of each ``highlight`` column (default: those
    whose name ends in "accuracy") in bold."""
    if not summary:
        raise ValueError("results_table got no rows")
    header = [first, "n"] + list(columns)
    highlight = [c for c in columns if c.endswith("accuracy")] if highlight is None else list(highlight)
    best = {c: np.nanmax([float(r[c]) for r in summary]) for c in highlight}
    cells = [[str(r[first]) for r in summary], [str(r.get("n", "")) for r in summary]]
    for c in columns:
        col = []
        for r in summary:
            v, s = float(r[c]), float(r.get(f"{c}_std", 0.0))
            text = f"{v:.{digits}f} ± {s:.{digits}f}"
            col.append(f"<b>{text}</b>" if c in best and v == best[c] else text)
        cells.append(col)
    fig = go.Figure(go.Table(header=dict(values=[f"<b>{h}</b>" for h in header], fill_color="#e8eef6",
                                         align="left"),
                             cells=dict(values=cells, align="left")))
    return _layout(fig, title, height or 60 + 28 * len(summary))


def embedding_comparison(xys: Mapping[str, np.ndarray], labels, *, classes: Sequence[str] | None = None,
                         hover: Sequence[str] | None = None, title: str | None = None,
                         height: int = 440) -> go.Figure:
    """Two or more 2-D maps side by side (e.g. UMAPs of ERM and MAMix-DRW features), coloured by
    class, with a shared legend (clicking a class toggles it in every panel)."""
    from plotly.subplots import make_subplots

    if not xys:
        raise ValueError("embedding_comparison needs at least one map")
    names = list(xys)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.04)
    for i, name in enumerate(names, 1):
        panel = embedding_scatter(xys[name], labels, classes=classes, hover=hover)
        for trace in panel.data:
            trace.legendgroup, trace.showlegend = trace.name, i == 1
            fig.add_trace(trace, row=1, col=i)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    return _layout(fig, title, height)
