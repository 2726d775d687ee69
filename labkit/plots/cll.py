"""Figures of notebooks/01_complementary_labels.ipynb: transition matrices, surrogate losses,
partial risks, simulated annotators and the comparison of complementary-label methods."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from .._arrays import to_numpy
from .._validation import integer
from .core import PALETTE, _layout, bar_style, training_curves

__all__ = ["transition_pair", "transition_explorer_figure", "surrogate_curves", "partial_risks_figure",
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
    from ..cll import empirical_transition, sample_complementary, transition_matrix

    n = integer(n, "n", low=num_classes, note="at least num_classes")
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
    """Each surrogate loss as a function of s_ȳ, the predicted probability of the complementary label.

    One example with CL ȳ = 0 and softmax output s = (s_ȳ, rest): ``rest="even"`` spreads 1 − s_ȳ over the
    other K − 1 classes, ``"peaked"`` puts 90% of it on one class. Q is uniform. "ure-ℓ̄" is URE's
    per-example estimator Σ_k ℓ_k − (K − 1)ℓ_ȳ before any correction: it goes negative as s_ȳ → 0.
    ``normalize`` rescales every curve to [0, 1] to compare shapes; ``y_range`` = (low, high) zooms
    the raw view (the MCL losses carry a factor 2K − 2 and dwarf the others).
    """
    from ..cll import make_method, transition_matrix

    if rest not in ("even", "peaked"):
        raise ValueError(f"rest must be 'even' or 'peaked', got {rest!r}")
    num_classes = integer(num_classes, "num_classes", low=3)
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
    fig.update_xaxes(title="predicted probability of the complementary label, s_ȳ")
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
    from ..cll import simulate_annotators, transition_matrix

    n = integer(n, "n", low=num_classes, note="at least num_classes")
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
                             marker=bar_style(i)))
    fig.update_layout(barmode="group", yaxis_title=metric.replace("_", " "), legend_title_text=by)
    if chance is not None:
        fig.add_hline(y=chance, line=dict(color="grey", dash="dash", width=1), annotation_text="chance")
    return _layout(fig, title, height)
