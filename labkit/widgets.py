"""Thin ipywidgets wiring around the pure figure functions of :mod:`labkit.plots`: one panel per
story (notebooks 00 to 05).

The pattern every notebook uses: ``interactive_figure(figure_fn, {"name": control, ...})`` shows
the controls above a plotly ``FigureWidget`` and, when a control changes, calls
``figure_fn(**values)`` and updates the FigureWidget in place (no flicker, no new output). Sliders
are set to ``continuous_update=False`` so a redraw happens when the mouse is released. The
controls and that wiring live in :mod:`labkit.controls` and are re-exported here.
"""
from __future__ import annotations

from typing import Mapping

import plotly.graph_objects as go

from . import plots  # (importing plots sets the plotly renderer)
from .controls import InteractiveFigure, dropdown, int_slider, interactive_figure, slider, update_figure
from .embed import project_2d
from .explorer import EmbeddingExplorer

__all__ = ["update_figure", "interactive_figure", "InteractiveFigure", "slider", "int_slider", "dropdown",
           "embedding_explorer", "explorer_figure"]


# ====================================================== story panels (one section per notebook)
# --- 00 tour: embedding explorer

def explorer_figure(features, *, method: str = "umap", n_neighbors: int = 15, min_dist: float = 0.1,
                    color=None, hover=None, title: str | None = None, seed: int = 0) -> go.Figure:
    """Project ``features`` with :func:`labkit.embed.project_2d` and draw them coloured by ``color``
    (a categorical column gives one legend entry per value; a float column a colour bar)."""
    xy = project_2d(features, method, n_neighbors=n_neighbors, min_dist=min_dist, seed=seed)
    if color is None:
        return plots.embedding_scatter(xy, hover=hover, title=title)
    labels, info = plots.colour_column(color)
    if labels is None:
        return plots.embedding_scatter(xy, color=info, hover=hover, title=title)
    return plots.embedding_scatter(xy, labels, classes=info, hover=hover, title=title)


def embedding_explorer(features, *, labels=None, classes=None, meta: Mapping | None = None, images=None,
                       texts=None, projection: str = "umap", compare=None, **kw):
    """An explorer of embeddings on a par with the Embedding Projector, inside a notebook.

    ``features``: (N, D), or a dict ``{name: (N, D)}`` of several embeddings of the same examples
    (a dropdown picks one); ``compare``: a second embedding (or ``{name: array}``) drawn side by side
    with linked hover and selection. ``labels``/``classes`` give the "class" column, ``meta`` more
    columns to colour by (categorical or continuous), ``images`` (N, C, H, W) thumbnails and
    ``texts`` (N strings, e.g. reports) for the side panel, hover and search. Options:
    ``n_neighbors``, ``min_dist``, ``perplexity``, ``metric`` ("cosine"/"euclidean"), ``k``,
    ``seed``, ``height``. Returns a :class:`labkit.explorer.EmbeddingExplorer` (methods ``click``,
    ``select``, ``search``, ``clear``).
    """
    return EmbeddingExplorer(features, labels=labels, classes=classes, meta=meta, images=images, texts=texts,
                             projection=projection, compare=compare, **kw)


# --- 01 complementary labels
__all__ += ["transition_explorer", "surrogate_explorer", "annotator_explorer"]


def transition_explorer(*, kind: str = "uniform", num_classes: int = 10, noise: float = 0.1,
                        concentration: float = 1.0, rho: float = 10.0, seed: int = 0,
                        n: int = 5000) -> InteractiveFigure:
    """Q of a family beside the empirical matrix of sampled labels
    (:func:`labkit.plots.transition_explorer_figure`): family, K, noise, concentration, ρ, seed, n."""
    from .cll import list_transitions

    controls = {
        "kind": dropdown([k for k in list_transitions() if k != "custom"], value=kind, description="family"),
        "num_classes": int_slider(num_classes, 3, 20, description="K"),
        "seed": int_slider(seed, 0, 20, description="seed"),
        "noise": slider(noise, 0.0, 1.0, 0.05, description="noise η (noisy)"),
        "concentration": slider(concentration, 0.05, 20.0, 0.05, description="concentration (dirichlet)"),
        "rho": slider(rho, 1.0, 100.0, 1.0, description="ρ (biased)"),
        "n": int_slider(n, 100, 50000, 100, description="labels drawn"),
    }
    return interactive_figure(plots.transition_explorer_figure, controls)


def surrogate_explorer(*, num_classes: int = 10, rest: str = "even", normalize: bool = False) -> InteractiveFigure:
    """Each surrogate loss against the predicted probability of the CL (:func:`labkit.plots.surrogate_curves`)."""
    controls = {
        "num_classes": int_slider(num_classes, 3, 50, description="K"),
        "rest": dropdown([("spread evenly", "even"), ("90% on one class", "peaked")], value=rest,
                         description="rest of the mass"),
        "normalize": dropdown([("raw", False), ("scaled to [0, 1]", True)], value=normalize, description="y-axis"),
    }
    return interactive_figure(plots.surrogate_curves, controls)


def annotator_explorer(*, error_rate: float = 0.04, candidates: int = 4, bias: float = 0.0, num_classes: int = 10,
                       n: int = 5000, seed: int = 0) -> InteractiveFigure:
    """Uniform Q beside simulated annotators' empirical Q (:func:`labkit.plots.annotator_transition_figure`):
    error rate, candidates shown, class bias, K, examples, seed. Impossible settings are refused in the status line."""
    controls = {
        "error_rate": slider(error_rate, 0.0, 0.3, 0.01, description="error rate"),
        "candidates": int_slider(candidates, 2, 20, description="candidates"),
        "bias": slider(bias, 0.0, 2.0, 0.1, description="class bias"),
        "num_classes": int_slider(num_classes, 3, 20, description="K"),
        "n": int_slider(n, 100, 20000, 100, description="examples"),
        "seed": int_slider(seed, 0, 20, description="seed"),
    }
    return interactive_figure(plots.annotator_transition_figure, controls)


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
__all__ += ["imbalance_toy_panel", "toy_figure", "label_weight_explorer"]


def toy_figure(*, ratio: float = 10.0, method: str = "mamix", alpha: float = 1.0, r: float = -0.25, k: int = 5,
               seed: int = 0, epochs: int = 60, _cache: dict | None = None) -> go.Figure:
    """Train the long-tailed 2-D toy with ``method`` (:func:`labkit.experiments.imbalanced_toy`) and
    draw its regions, synthetic points and per-class boundary distances; results are cached."""
    from .toys import imbalanced_toy

    key = (float(ratio), method, float(alpha), float(r), int(k), int(seed), int(epochs))
    cache = _cache if _cache is not None else {}
    if key not in cache:
        cache[key] = imbalanced_toy(ratio=ratio, method=method, alpha=alpha, r=r, k=k, seed=seed, epochs=epochs)
    out = cache[key]
    d, y = out["distances"], out["y"]
    tail = float(d[y == 2].mean())
    title = (f"{method}, ratio {ratio:g}, counts {out['counts']}: the tail's mean distance to the boundary "
             f"{tail:.2f} (trained in {out['seconds']:.1f} s)")
    return plots.imbalance_toy_figure(out["x"], out["y"], out["grid"], x_syn=out["x_syn"], t_syn=out["t_syn"],
                                      distances=d, classes=["head", "middle", "tail"], title=title)


def imbalance_toy_panel(*, ratio: float = 10.0, method: str = "mamix", alpha: float = 1.0, r: float = -0.25,
                        k: int = 5, seed: int = 0, epochs: int = 60) -> InteractiveFigure:
    """The notebook-04 toy: ratio, method (SMOTE / soft SMOTE / Mixup / Remix / MAMix, ...), α, r and
    k; each change retrains a small net on the spot (a second or two on a CPU) and redraws the
    decision regions, the synthetic points and the per-class distances in place."""
    from .toys import TOY_METHODS

    controls = {
        "ratio": slider(ratio, 1.0, 30.0, 1.0, description="imbalance ratio"),
        "method": dropdown(list(TOY_METHODS), value=method, description="method"),
        "alpha": slider(alpha, 0.1, 4.0, 0.1, description="α (Beta)"),
        "r": slider(r, -2.0, 0.0, 0.05, description="r (MAMix)"),
        "k": int_slider(k, 1, 15, description="k (SMOTE)"),
    }
    return interactive_figure(toy_figure, controls, fixed={"seed": seed, "epochs": epochs, "_cache": {}})


def label_weight_explorer(*, n_i: int = 5000, n_j: int = 50, r: float = -0.25, kappa: float = 3.0,
                          tau: float = 0.5) -> InteractiveFigure:
    """MAMix's label weight vs λ beside Mixup's and Remix's (:func:`labkit.plots.label_weight_curves`)
    for a pair of classes of sizes n_i and n_j."""
    controls = {
        "n_i": int_slider(n_i, 1, 5000, description="n_i (own class)"),
        "n_j": int_slider(n_j, 1, 5000, description="n_j (partner)"),
        "r": slider(r, -2.0, 0.0, 0.05, description="r (MAMix)"),
        "kappa": slider(kappa, 1.0, 10.0, 0.5, description="κ (Remix)"),
        "tau": slider(tau, 0.0, 1.0, 0.05, description="θ (Remix)"),
    }
    return interactive_figure(plots.label_weight_curves, controls)


# --- 05 clip alignment

__all__ += ["clip_embedding_figure", "clip_explorer"]


def clip_embedding_figure(views: Mapping, *, stage: str, head: str, color_by: str = "modality",
                          class_names=None, links: int = 0) -> go.Figure:
    """The joint image-text map for one (stage, head) from ``views``: a dict keyed by
    ``(stage, head)`` of dicts with ``xy`` (N, 2; images then texts), ``labels``, ``modality`` and
    optionally ``hover`` and ``gap`` (measured in embedding space, shown in the title)."""
    if (stage, head) not in views:
        raise ValueError(f"no view for stage={stage!r}, head={head!r}; have {sorted(views)}")
    v = views[(stage, head)]
    title = f"{stage}, {head} head"
    if v.get("gap") is not None:
        title += f": modality gap {v['gap']:.2f} (embedding space)"
    return plots.joint_embedding(v["xy"], v["labels"], v["modality"], color_by=color_by, class_names=class_names,
                                 hover=v.get("hover"), links=links, title=title)


def clip_explorer(views: Mapping, *, class_names=None, links: int = 0):
    """Widget over :func:`clip_embedding_figure`: dropdowns for stage, head and colour-by."""
    stages = list(dict.fromkeys(k[0] for k in views))
    heads = list(dict.fromkeys(k[1] for k in views))
    return interactive_figure(clip_embedding_figure,
                              {"stage": dropdown(stages, description="stage"),
                               "head": dropdown(heads, description="head"),
                               "color_by": dropdown(["modality", "class"], description="colour by")},
                              fixed={"views": views, "class_names": class_names, "links": links})
