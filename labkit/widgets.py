"""Thin ipywidgets wiring around the pure figure functions of :mod:`labkit.plots`.

The pattern every notebook uses: ``interactive_figure(figure_fn, {"name": control, ...})`` shows
the controls above a plotly ``FigureWidget`` and, when a control changes, calls
``figure_fn(**values)`` and updates the FigureWidget in place (no flicker, no new output). Sliders
are set to ``continuous_update=False`` so a redraw happens when the mouse is released.
"""
from __future__ import annotations

from typing import Callable, Mapping

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go

from . import plots  # noqa: F401  (sets the plotly renderer)

__all__ = ["update_figure", "interactive_figure", "InteractiveFigure", "slider", "int_slider", "dropdown",
           "embedding_explorer", "explorer_figure"]


def update_figure(widget: go.FigureWidget, fig: go.Figure) -> None:
    """Make ``widget`` show ``fig``, updating traces in place when their number and types match."""
    with widget.batch_update():
        same = len(widget.data) == len(fig.data) and all(
            a.type == b.type for a, b in zip(widget.data, fig.data))
        if same:
            for old, new in zip(widget.data, fig.data):
                spec = new.to_plotly_json()
                spec.pop("type", None)
                old.update(spec, overwrite=True)
        else:
            widget.data = ()
            widget.add_traces(list(fig.data))
        widget.layout = fig.layout


def slider(value: float, min: float, max: float, step: float, description: str = "", **kw) -> W.FloatSlider:
    """A float slider that redraws on release, with a readable label width."""
    return W.FloatSlider(value=value, min=min, max=max, step=step, description=description,
                         continuous_update=False, style={"description_width": "initial"}, **kw)


def int_slider(value: int, min: int, max: int, step: int = 1, description: str = "", **kw) -> W.IntSlider:
    """An integer slider that redraws on release."""
    return W.IntSlider(value=value, min=min, max=max, step=step, description=description,
                       continuous_update=False, style={"description_width": "initial"}, **kw)


def dropdown(options, value=None, description: str = "", **kw) -> W.Dropdown:
    """A dropdown with a readable label width."""
    options = list(options)
    return W.Dropdown(options=options, value=value if value is not None else _first(options),
                      description=description, style={"description_width": "initial"}, **kw)


def _first(options):
    first = options[0]
    return first[1] if isinstance(first, tuple) else first


class InteractiveFigure(W.VBox):
    """Controls, a status line and a FigureWidget redrawn by ``figure_fn(**values, **fixed)``.

    ``.figure`` is the FigureWidget, ``.controls`` the dict of controls, ``.values()`` the current
    settings and ``.redraw()`` forces an update. A ValueError from ``figure_fn`` (a setting that is
    not allowed) is shown in the status line; any other error is raised.
    """

    def __init__(self, figure_fn: Callable[..., go.Figure], controls: Mapping[str, W.Widget], *,
                 fixed: Mapping | None = None, columns: int = 3):
        self.figure_fn, self.controls, self.fixed = figure_fn, dict(controls), dict(fixed or {})
        self.status = W.HTML("")
        self.figure = go.FigureWidget(figure_fn(**self.values(), **self.fixed))
        for control in self.controls.values():
            if hasattr(control, "continuous_update"):
                control.continuous_update = False
            control.observe(self.redraw, names="value")
        boxes = list(self.controls.values())
        rows = [W.HBox(boxes[i:i + columns]) for i in range(0, len(boxes), columns)]
        super().__init__(rows + [self.status, self.figure])

    def values(self) -> dict:
        return {name: control.value for name, control in self.controls.items()}

    def redraw(self, change=None) -> None:
        try:
            fig = self.figure_fn(**self.values(), **self.fixed)
        except ValueError as exc:
            self.status.value = f"<span style='color:#b00'>Not allowed: {exc}</span>"
            return
        self.status.value = ""
        update_figure(self.figure, fig)


def interactive_figure(figure_fn: Callable[..., go.Figure], controls: Mapping[str, W.Widget], *,
                       fixed: Mapping | None = None, columns: int = 3) -> InteractiveFigure:
    """Wire ``controls`` (name -> ipywidget) to a pure figure function; see :class:`InteractiveFigure`."""
    return InteractiveFigure(figure_fn, controls, fixed=fixed, columns=columns)


# ====================================================== story panels (one section per notebook)
# --- 00 tour: embedding explorer

def _colour_column(values):
    """(labels, class names) for a categorical column, or (None, floats) for a continuous one."""
    arr = plots.to_numpy(values)
    if arr.dtype.kind in "fc":
        return None, arr.astype(float)
    names = sorted(set(arr.tolist()), key=lambda v: (str(type(v)), v))
    lookup = {v: i for i, v in enumerate(names)}
    return np.array([lookup[v] for v in arr.tolist()]), [str(v) for v in names]


def explorer_figure(features, *, method: str = "umap", n_neighbors: int = 15, min_dist: float = 0.1,
                    color=None, hover=None, title: str | None = None, seed: int = 0) -> go.Figure:
    """Project ``features`` with :func:`labkit.embed.project_2d` and draw them coloured by ``color``
    (a categorical column gives one legend entry per value; a float column a colour bar)."""
    from .embed import project_2d

    xy = project_2d(features, method, n_neighbors=n_neighbors, min_dist=min_dist, seed=seed)
    if color is None:
        return plots.embedding_scatter(xy, hover=hover, title=title)
    labels, info = _colour_column(color)
    if labels is None:
        return plots.embedding_scatter(xy, color=info, hover=hover, title=title)
    return plots.embedding_scatter(xy, labels, classes=info, hover=hover, title=title)


def embedding_explorer(features, *, labels=None, classes=None, meta: Mapping | None = None, hover=None,
                       method: str = "umap", n_neighbors: int = 15, min_dist: float = 0.1,
                       seed: int = 0) -> InteractiveFigure:
    """An interactive 2-D map of embeddings: projection (UMAP / PCA / t-SNE), its parameters, and
    colour-by any column.

    ``features``: an (N, D) array/tensor, or a dict ``{name: (N, D)}`` of several embeddings of
    the same N examples (e.g. raw pixels and learned features), chosen in a dropdown.
    ``labels`` (with ``classes`` names) become the colour column "class"; ``meta`` adds more
    columns (categorical or continuous). ``hover``: a text per point. Projections are cached on
    disk, so revisiting a setting is instant.
    """
    feats = dict(features) if isinstance(features, Mapping) else {"features": features}
    sizes = {name: len(f) for name, f in feats.items()}
    n = next(iter(sizes.values()))
    if len(set(sizes.values())) != 1:
        raise ValueError(f"every embedding must hold the same examples; got sizes {sizes}")
    columns: dict[str, object] = {}
    if labels is not None:
        lab = plots.to_numpy(labels).astype(int)
        names = list(classes) if classes is not None else None
        columns["class"] = np.array([names[i] for i in lab] if names else lab.astype(str))
    for key, col in (meta or {}).items():
        columns[key] = plots.to_numpy(col)
    for key, col in columns.items():
        if len(col) != n:
            raise ValueError(f"column {key!r} has {len(col)} values for {n} examples")
    if hover is None and "class" in columns:
        hover = [f"#{i} class {c}" for i, c in enumerate(columns["class"])]
    controls = {
        "name": dropdown(list(feats), description="embedding"),
        "method": dropdown(["umap", "pca", "tsne"], value=method, description="projection"),
        "color_by": dropdown(list(columns) or ["none"], description="colour by"),
        "n_neighbors": int_slider(n_neighbors, 2, 100, description="UMAP n_neighbors"),
        "min_dist": slider(min_dist, 0.0, 0.99, 0.01, description="UMAP min_dist"),
    }

    def figure(name, method, color_by, n_neighbors, min_dist):
        return explorer_figure(feats[name], method=method, n_neighbors=n_neighbors, min_dist=min_dist,
                               color=columns.get(color_by), hover=hover, seed=seed,
                               title=f"{name}: {method.upper()}")

    return interactive_figure(figure, controls)
# --- 01 complementary labels
# --- 02/03 mixup noise and intra-cluster mixup
__all__ += ["noise_explorer", "cluster_figure", "cluster_explorer"]


def noise_explorer(*, max_classes: int = 20, alpha: float = 0.2, n: int = 20000, transition: str = "uniform",
                   seed: int = 0) -> InteractiveFigure:
    """Measured Mixup noise vs the closed forms as K grows (:func:`labkit.plots.noise_vs_classes`):
    sliders for the largest K and α, a dropdown for the transition family."""
    controls = {
        "max_classes": int_slider(max_classes, 4, 50, description="largest K"),
        "alpha": slider(alpha, 0.05, 4.0, 0.05, description="α (Beta)"),
        "transition": dropdown(["uniform", "biased", "weak", "strong", "dirichlet"], value=transition,
                               description="Q"),
    }
    return interactive_figure(plots.noise_vs_classes, controls, fixed={"n": n, "seed": seed})


def cluster_figure(features: Mapping, xy, y, cl, *, clusters: int = 50, method: str | None = None,
                   color_by: str = "cluster", classes=None, seed: int = 0, _cache: dict | None = None) -> go.Figure:
    """k-means with ``clusters`` clusters on ``features[method]``, drawn on the map ``xy`` coloured by
    cluster, class, or per-example intra-cluster noise; the title gives purity and mean noise."""
    from .mix import cluster_noise_rate, cluster_purity, kmeans

    method = method or next(iter(features))
    if method not in features:
        raise ValueError(f"unknown feature method {method!r}; computed here: {', '.join(features)}")
    key = (method, int(clusters))
    cache = _cache if _cache is not None else {}
    if key not in cache:
        cache[key] = kmeans(features[method], int(clusters), seed=seed).labels.cpu()
    ids = cache[key]
    rate = cluster_noise_rate(ids, y, cl)
    title = (f"{method} features, {clusters} clusters: purity {cluster_purity(ids, y):.1%}, "
             f"mean noise of an intra-cluster pair {float(rate.mean()):.1%}")
    return plots.cluster_map(xy, ids, y, color_by, noise_rate=rate, classes=classes, title=title)


def cluster_explorer(features: Mapping, xy, y, cl, *, clusters: int = 50, color_by: str = "cluster",
                     classes=None, seed: int = 0) -> InteractiveFigure:
    """Features → k-means → a 2-D map coloured by cluster, true class, or "this example's pairs
    would be noisy". ``features``: ``{method name: (N, D) features}`` (e.g. from
    :func:`labkit.mix.cluster_features`); ``xy`` the (N, 2) map; ``cl`` one CL per example.
    Clusterings are cached, so revisiting a setting is instant."""
    feats = dict(features)
    if not feats:
        raise ValueError("features must map at least one method name to an (N, D) matrix")
    cache: dict = {}
    controls = {
        "clusters": int_slider(clusters, 1, 200, description="clusters"),
        "method": dropdown(list(feats), description="features"),
        "color_by": dropdown(["cluster", "class", "noise"], value=color_by, description="colour by"),
    }
    return interactive_figure(cluster_figure, controls,
                              fixed={"features": feats, "xy": xy, "y": y, "cl": cl, "classes": classes,
                                     "seed": seed, "_cache": cache})


# --- 04 smote to mixup, margins
# --- 05 clip alignment
