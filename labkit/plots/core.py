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
           "PALETTE", "to_numpy", "colour_column", "category_colours", "thumbnail_png", "thumbnail_html",
           "class_bars"]

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
__all__ += ["transition_pair", "transition_explorer_figure", "surrogate_curves", "partial_risks_figure",
            "method_comparison", "annotator_transition_figure"]


def transition_pair(Q, Q_hat, *, classes: Sequence[str] | None = None, n: int | None = None,
                    title: str | None = None, height: int = 400, titles: Sequence[str] | None = None) -> go.Figure:
    """Two heatmaps side by side: the transition matrix Q (rows: true class y, columns: CL ȳ) and
    the empirical matrix counted from sampled labels (``n`` of them, shown in the subtitle);
    ``titles`` replaces the two panel names (the right one keeps its "max |diff|" note)."""
    from plotly.subplots import make_subplots

    q, e = to_numpy(Q).astype(float), to_numpy(Q_hat).astype(float)
    if q.ndim != 2 or q.shape[0] != q.shape[1] or q.shape != e.shape:
        raise ValueError(f"Q and Q_hat must be square matrices of the same shape, got {q.shape} and {e.shape}")
    names = list(classes) if classes is not None else [str(i) for i in range(len(q))]
    left, right = titles if titles is not None else ("Q = P(ȳ | y)", "empirical")
    right += (f" from {n:,} labels" if n else "") + f" (max |diff| {np.abs(q - e).max():.3f})"
    fig = make_subplots(rows=1, cols=2, subplot_titles=[left, right], horizontal_spacing=0.08)
    zmax = max(q.max(), e.max(), 1e-9)
    text = "%{z:.2f}" if len(q) <= 12 else None
    for col, z in ((1, q), (2, e)):
        fig.add_trace(go.Heatmap(z=z, x=names, y=names, colorscale="Blues", zmin=0, zmax=zmax, texttemplate=text,
                                 showscale=col == 2, hovertemplate="y=%{y}, ȳ=%{x}: %{z:.3f}<extra></extra>"),
                      row=1, col=col)
        fig.update_yaxes(autorange="reversed", title_text="true class y" if col == 1 else None, row=1, col=col)
        fig.update_xaxes(title_text="complementary label ȳ", row=1, col=col)
    return _layout(fig, title, height)


def transition_explorer_figure(kind: str = "uniform", num_classes: int = 10, noise: float = 0.1,
                               concentration: float = 1.0, rho: float = 10.0, seed: int = 0, n: int = 5000,
                               *, title: str | None = None) -> go.Figure:
    """Q of one family (labkit.cll.transition_matrix) beside the empirical matrix of ``n`` labels drawn
    from it for balanced true labels; the empirical matrix converges to Q as n grows."""
    from .cll import empirical_transition, sample_complementary, transition_matrix

    if not isinstance(n, int) or n < num_classes:
        raise ValueError(f"n must be an integer >= num_classes ({num_classes}), got {n!r}")
    q = transition_matrix(kind, num_classes, seed=seed, noise=noise, concentration=concentration, rho=rho)
    y = torch.arange(n) % num_classes
    cl = sample_complementary(y, q, seed=seed)
    return transition_pair(q, empirical_transition(y, cl, num_classes), n=n,
                           title=title or f"{kind} transition, K = {num_classes}")


# per-example losses only: URE and SCARCE are batch risks; "ure (uncorrected ℓ̄)" shows why they need NN/GA
_SURROGATES = ("pc", "scl-nl", "scl-exp", "fwd", "dm", "mcl-mae", "mcl-exp", "mcl-log", "op", "cpe-i", "ure-ℓ̄")


def surrogate_curves(num_classes: int = 10, rest: str = "even", normalize: bool = False,
                     methods: Sequence[str] | None = None, *, points: int = 99, y_range=None,
                     title: str | None = None, height: int = 420) -> go.Figure:
    """Each surrogate loss as a function of p, the predicted probability of the complementary label.

    One example with CL ȳ = 0 and softmax output s = (p, rest): ``rest="even"`` spreads 1 − p over the
    other K − 1 classes, ``"peaked"`` puts 90% of it on one class. Q is uniform. "ure-ℓ̄" is URE's
    per-example estimator Σ_k ℓ_k − (K − 1)ℓ_ȳ before any correction: it goes negative as p → 0.
    ``normalize`` rescales every curve to [0, 1] to compare shapes; ``y_range`` = (low, high) zooms
    the raw view (the MCL losses carry a factor 2K − 2 and dwarf the others).
    """
    from .cll import make_method, transition_matrix

    if rest not in ("even", "peaked"):
        raise ValueError(f"rest must be 'even' or 'peaked', got {rest!r}")
    if not isinstance(num_classes, int) or num_classes < 3:
        raise ValueError(f"num_classes must be an integer >= 3, got {num_classes!r}")
    methods = list(methods) if methods is not None else list(_SURROGATES)
    unknown = [m for m in methods if m not in _SURROGATES]
    if unknown:
        raise ValueError(f"surrogate_curves draws per-example losses only: {', '.join(_SURROGATES)}; got {unknown}")
    k = num_classes
    p = torch.linspace(0.01, 0.99, points)
    others = torch.full((points, k - 1), 1.0 / (k - 1))
    if rest == "peaked":
        others = torch.full((points, k - 1), 0.1 / (k - 2))
        others[:, 0] = 0.9
    s = torch.cat([p[:, None], (1 - p)[:, None] * others], 1)
    logits, cl = s.log(), torch.zeros(points, dtype=torch.long)
    fig = go.Figure()
    for i, name in enumerate(methods):
        if name == "ure-ℓ̄":
            m = make_method("ure-nn", k)
            value = m.unbiased_losses(logits).gather(1, cl[:, None]).squeeze(1)
        else:
            m = make_method(name, k, Q=transition_matrix("uniform", k))
            value = m.per_label_loss(logits).gather(1, cl[:, None]).squeeze(1)
        v = to_numpy(value)
        if normalize:
            v = (v - v.min()) / max(v.max() - v.min(), 1e-12)
        fig.add_trace(go.Scatter(x=to_numpy(p), y=v, mode="lines", name=name,
                                 line=dict(color=PALETTE[i % len(PALETTE)], dash="dot" if name == "ure-ℓ̄" else None)))
    fig.add_hline(y=0, line=dict(color="grey", width=1))
    fig.update_xaxes(title="predicted probability of the complementary label, p = s_ȳ")
    fig.update_yaxes(title="loss (scaled to [0, 1])" if normalize else "loss",
                     range=list(y_range) if y_range is not None and not normalize else None)
    return _layout(fig, title or f"surrogate losses, K = {k}, rest of the mass {rest}", height)


def partial_risks_figure(histories: Mapping, *, keys: Sequence[str] = ("min_risk", "eval_accuracy"),
                         title: str | None = None, height: int = 360) -> go.Figure:
    """Per-epoch curves (one line per run) of URE's smallest partial risk and accuracy, with the
    zero line: a partial risk whose expectation is ≥ 0 that goes below 0 signals overfitting."""
    fig = training_curves(histories, keys=keys, title=title, height=height)
    fig.add_hline(y=0, line=dict(color="grey", dash="dash", width=1), row=1, col=1)
    return fig


def annotator_transition_figure(error_rate: float = 0.04, candidates: int = 4, bias: float = 0.0,
                                num_classes: int = 10, n: int = 5000, seed: int = 0, *,
                                title: str | None = None) -> go.Figure:
    """The uniform Q beside the empirical Q of simulated annotators (the CLImage protocol,
    :func:`labkit.cll.simulate_annotators`: three annotators, ``candidates`` labels shown, the true
    class picked with probability ``error_rate``, class preferences exp(bias·N(0, 1)); 0: none),
    counted from 3·``n`` labels of balanced true classes. Its diagonal is the annotation noise."""
    from .cll import simulate_annotators, transition_matrix

    if not isinstance(n, int) or n < num_classes:
        raise ValueError(f"n must be an integer >= num_classes ({num_classes}), got {n!r}")
    y = torch.arange(n) % num_classes
    sim = simulate_annotators(y, num_classes, candidates=candidates, error_rate=error_rate,
                              bias=bias if bias else None, seed=seed)
    return transition_pair(transition_matrix("uniform", num_classes), sim.Q, n=sim.labels.numel(),
                           titles=("uniform Q", "simulated annotators"),
                           title=title or f"uniform vs annotator labels: {candidates} candidates, "
                                          f"error rate {error_rate:.0%}, bias {bias:g}, diagonal mean "
                                          f"{float(sim.Q.diag().mean()):.3f}")


def method_comparison(summary: Sequence[Mapping], metric: str = "test_accuracy", *, by: str = "transition",
                      chance: float | None = None, title: str | None = None, height: int = 400) -> go.Figure:
    """Bars of ``metric`` (mean ± std over seeds, from labkit.experiments.summarize rows): one group
    per method, one colour per value of ``by`` (e.g. the transition family); ``chance`` draws a
    dashed line at that level (1/K for accuracy)."""
    if not summary:
        raise ValueError("summary is empty")
    if any(metric not in r or "method" not in r for r in summary):
        raise ValueError(f"every summary row needs 'method' and {metric!r}; the first has {sorted(summary[0])}")
    methods = list(dict.fromkeys(str(r["method"]) for r in summary))
    fig = go.Figure()
    for i, group in enumerate(dict.fromkeys(str(r.get(by)) for r in summary)):
        rows = {str(r["method"]): r for r in summary if str(r.get(by)) == group}
        fig.add_trace(go.Bar(x=methods, y=[rows[m][metric] if m in rows else None for m in methods], name=group,
                             error_y=dict(type="data", array=[rows[m].get(f"{metric}_std", 0) if m in rows else 0
                                                              for m in methods]),
                             marker_color=PALETTE[i % len(PALETTE)]))
    fig.update_layout(barmode="group", yaxis_title=metric.replace("_", " "), legend_title_text=by)
    if chance is not None:
        fig.add_hline(y=chance, line=dict(color="grey", dash="dash", width=1), annotation_text="chance")
    return _layout(fig, title, height)


# --- 02/03 mixup noise and intra-cluster mixup
__all__ += ["mixup_strip", "cll_mix_pairs", "noise_vs_classes", "cluster_map", "noise_vs_clusters",
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
    random partners, λ ~ Beta(α, α). Left: fraction of noisy pairs vs Σ π_a π_b (Q_ab + Q_ba −
    Q_ab Q_ba) ((2K − 3)/(K(K − 1)) for uniform Q); right: noisy label mass vs Σ π_a π_b Q_ab (1/K).
    """
    from plotly.subplots import make_subplots

    from .cll import sample_complementary, transition_matrix
    from .mix import expected_noisy_mass, expected_pair_noise, noisy_mass, pair_noise, random_partners, sample_lambda

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
                             marker_color=PALETTE[i % len(PALETTE)]))
    fig.update_layout(barmode="group", yaxis_title=metric.replace("_", " "))
    return _layout(fig, title, height)


# --- 04 smote to mixup, margins
__all__ += ["imbalance_toy_figure", "label_weight_curves", "margin_profile", "results_table",
            "embedding_comparison"]


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
    from .mix.margin import mamix_m, mamix_weight, mixup_weight, remix_weight

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


# --- 05 clip alignment

__all__ += ["report_gallery", "target_heatmaps", "joint_embedding", "retrieval_row", "ablation_bars"]


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
                             marker_color=PALETTE[j % len(PALETTE)]))
    fig.update_layout(barmode="group", yaxis_title=metric, xaxis_title=x)
    return _layout(fig, title, height)
