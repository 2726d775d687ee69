"""SMOTE and soft SMOTE: synthetic points on segments between an anchor and a near neighbour.

SMOTE (Chawla et al. 2002, "SMOTE: Synthetic Minority Over-sampling Technique"):

    x_new = x_i + δ·(x_nn − x_i) = (1 − δ)·x_i + δ·x_nn,   δ ~ U(0, 1)  (``u`` in the code),

x_i a minority-class anchor, x_nn one of its k (k_nn in docs/glossary.md) nearest SAME-class neighbours, label y_i (hard).
Soft SMOTE (Cheng, Mai & Lin, "From SMOTE to Mixup for deep imbalanced classification", TAAI 2023)
takes the partner among the k nearest neighbours of ANY class and labels the point
(1 − δ)·e(y_i) + δ·e(y_j). With a uniformly random partner (``k=None``) and δ ~ Beta(1, 1) this is
exactly Mixup with α = 1: the framework's knobs are the anchors, the partner pool, hard or soft
labels, and the law of the mixing weight (docs/reference.md §4).

Everything is vectorised in torch (one loop over classes, none over points) and runs on the data's
device; random numbers come from a CPU generator so a seed gives the same points on CPU and GPU.
Taught in notebooks/04_smote_to_mixup_margins.ipynb.
"""
from __future__ import annotations

import math
import warnings
from typing import Mapping

import numpy as np
import torch

from .._validation import finite_tensor, integer, one_of, positive, positive_int
from ..device import make_generator
from .mixup import sample_lambda

__all__ = ["smote", "soft_smote", "oversample", "knn_indices", "nearest_neighbors", "sampling_counts", "ANCHORS",
           "OVERSAMPLERS"]

ANCHORS = ("minority", "all")
OVERSAMPLERS = ("smote", "soft-smote")


# ----------------------------------------------------------------------------- input checks

def _as_xy(x, y) -> tuple[torch.Tensor, torch.Tensor]:
    x = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    y = y if isinstance(y, torch.Tensor) else torch.as_tensor(np.asarray(y))
    if x.ndim < 2:
        raise ValueError(f"x must be a batch of examples (N, D, ...), got shape {tuple(x.shape)}")
    if y.ndim != 1 or y.is_floating_point():
        raise ValueError(f"y must be integer class labels of shape (N,), got {y.dtype} {tuple(y.shape)}")
    if len(x) != len(y):
        raise ValueError(f"x and y have different lengths: {len(x)} and {len(y)}")
    if len(y) == 0:
        raise ValueError("x and y are empty")
    finite_tensor(x, "x")
    if int(y.min()) < 0:
        raise ValueError("class labels must be non-negative")
    return x.float(), y.long().to(x.device)


def _check_k(k, allow_none: bool = False) -> int | None:
    if k is None and allow_none:
        return None
    note = "the number of nearest neighbours" + ("; None: random partners" if allow_none else "")
    return positive_int(k, "k", note=note)


def _check_alpha(alpha) -> float:
    return positive(alpha, "alpha", note="the draw delta ~ Beta(alpha, alpha)")


def sampling_counts(y: torch.Tensor, sampling="auto", num_classes: int | None = None) -> torch.Tensor:
    """How many synthetic points each class gets, a long tensor (K,).

    ``"auto"``: every class is topped up to the majority count (max_c n_c − n_c); a dict
    ``{class: target_count}`` asks for that many examples of a class after resampling (as in
    imbalanced-learn's ``sampling_strategy``); classes not named get none.
    """
    y = torch.as_tensor(y).long().cpu()
    k = max(int(y.max()) + 1, num_classes or 0)
    counts = torch.bincount(y, minlength=k)
    if isinstance(sampling, str):
        if sampling != "auto":
            raise ValueError(f"sampling must be 'auto' or a dict {{class: target count}}, got {sampling!r}")
        return (counts.max() - counts).clamp_min(0) * (counts > 0)
    if not isinstance(sampling, Mapping):
        raise ValueError(f"sampling must be 'auto' or a dict {{class: target count}}, got {type(sampling).__name__}")
    new = torch.zeros(k, dtype=torch.long)
    for c, target in sampling.items():
        c = integer(c, "a class named in sampling", low=0, high=k - 1, note="classes are numbered from 0")
        target = integer(target, f"sampling[{c}]", low=int(counts[c]),
                         note=f"the target count of class {c}, which already has {int(counts[c])}")
        if int(counts[c]) == 0 and target > 0:
            raise ValueError(f"class {c} has no example to oversample from")
        new[int(c)] = int(target) - int(counts[c])
    return new


# ------------------------------------------------------------------------ nearest neighbours

def knn_indices(query: torch.Tensor, pool: torch.Tensor, k: int, *, exclude: torch.Tensor | None = None,
                chunk: int = 4096) -> torch.Tensor:
    """Indices (M, k) into ``pool`` of the k nearest neighbours of each query row (a batch k-NN).

    argmin_k over j of ‖q_m − p_j‖₂ (ties broken by ``torch.topk``). ``exclude[m]`` is a pool index
    that query m may not pick (itself); chunked over queries so the distance matrix never exceeds
    ``chunk`` × len(pool). SMOTE's neighbour search (Chawla et al. 2002).
    """
    k, chunk = positive_int(k, "k"), positive_int(chunk, "chunk")
    q, p = query.flatten(1), pool.flatten(1)
    if k > len(p) - (exclude is not None):
        raise ValueError(f"k={k} neighbours asked for, but the pool has only {len(p)} candidates")
    out = []
    for start in range(0, len(q), chunk):
        d = torch.cdist(q[start:start + chunk], p)
        if exclude is not None:
            rows = torch.arange(len(d), device=d.device)
            d[rows, exclude[start:start + chunk]] = math.inf
        out.append(d.topk(k, dim=1, largest=False).indices)
    return torch.cat(out) if out else torch.zeros(0, k, dtype=torch.long, device=query.device)


#: Former name of :func:`knn_indices`, kept so existing code runs.
nearest_neighbors = knn_indices


def _segment_points(x_anchor, x_partner, u):
    u = u.view(-1, *([1] * (x_anchor.ndim - 1)))
    return x_anchor + u * (x_partner - x_anchor)


# ----------------------------------------------------------------------------------- SMOTE

def smote(x, y, *, k: int = 5, sampling="auto", seed: int | None = None,
          generator: torch.Generator | None = None, return_info: bool = False):
    """Synthetic minority points ``(x_new, y_new)`` by SMOTE (Chawla et al. 2002), hard labels.

    For each class c with s_c new points (``sampling``, default ``"auto"``: up to the majority
    count): anchors x_i drawn uniformly from class c, a partner x_nn uniformly among the anchor's
    k nearest same-class neighbours, and x_new = x_i + δ·(x_nn − x_i), δ ~ U(0, 1), label c.
    SMOTE needs k + 1 ≤ n_c: k is capped at n_c − 1 with a warning, and a class with one example
    is left alone with a warning. Only the synthetic points are returned (append them yourself, or
    use :func:`oversample`). ``return_info`` adds a dict with ``anchor`` and ``partner`` (indices
    into x) and ``u``.
    """
    x, y = _as_xy(x, y)
    k = _check_k(k)
    new = sampling_counts(y, sampling)
    g = make_generator(seed, generator)
    device = x.device
    xs, ys, anchors, partners, us = [], [], [], [], []
    for c in torch.nonzero(new).flatten().tolist():
        members = torch.nonzero(y == c).flatten()
        n_c, s_c = len(members), int(new[c])
        if n_c < 2:
            warnings.warn(f"class {c} has {n_c} example: SMOTE needs two, so it is left alone", stacklevel=2)
            continue
        k_c = k
        if k > n_c - 1:
            warnings.warn(f"class {c} has {n_c} examples, so k is capped at {n_c - 1} (was {k})", stacklevel=2)
            k_c = n_c - 1
        local = torch.arange(n_c, device=device)
        nn_idx = knn_indices(x[members], x[members], k_c, exclude=local)  # (n_c, k_c), local indices
        a = torch.randint(0, n_c, (s_c,), generator=g).to(device)
        j = torch.randint(0, k_c, (s_c,), generator=g).to(device)
        u = torch.rand(s_c, generator=g).to(device)
        anchor, partner = members[a], members[nn_idx[a, j]]
        xs.append(_segment_points(x[anchor], x[partner], u))
        ys.append(torch.full((s_c,), c, dtype=torch.long, device=device))
        anchors.append(anchor), partners.append(partner), us.append(u)
    x_new, y_new = _cat(xs, x), _cat(ys, y)
    if not return_info:
        return x_new, y_new
    info = {"anchor": _cat(anchors, y), "partner": _cat(partners, y), "u": _cat(us, x.new_zeros(0))}
    return x_new, y_new, info


def _cat(parts, like):
    if parts:
        return torch.cat(parts)
    return like.new_zeros((0, *like.shape[1:]))


# ------------------------------------------------------------------------------ soft SMOTE

def soft_smote(x, y, *, k: int | None = 5, anchors: str = "minority", alpha: float = 1.0,
               num_classes: int | None = None, seed: int | None = None,
               generator: torch.Generator | None = None, return_info: bool = False):
    """Synthetic points with SOFT labels: SMOTE's segment, a partner of ANY class.

    x_new = (1 − δ)·x_i + δ·x_j,  target (1 − δ)·e(y_i) + δ·e(y_j),  δ ~ Beta(α, α) (α = 1: U(0, 1)),
    x_j uniform among the k nearest neighbours of x_i in the whole set (``k=None``: uniform among
    all other examples, i.e. Mixup's random partner). ``anchors="minority"``: each non-majority
    class gets max_c n_c − n_c points with anchors from that class (SMOTE's "auto");
    ``anchors="all"``: one point per example, every example its own anchor once (Mixup's shape).
    Returns ``(x_new, t_new)`` with t_new (M, K) rows summing to 1; ``return_info`` adds
    ``anchor``, ``partner`` and ``lam`` (= 1 − δ, the anchor's weight: labkit's Mixup λ).
    Cheng, Mai & Lin 2023: with random partners and δ ~ U(0, 1) this is Mixup with α = 1.
    """
    x, y = _as_xy(x, y)
    k = _check_k(k, allow_none=True)
    alpha = _check_alpha(alpha)
    if anchors not in ANCHORS:
        raise ValueError(f"unknown anchors {anchors!r}; valid: {', '.join(ANCHORS)}")
    n, device = len(y), x.device
    if n < 2:
        raise ValueError("soft SMOTE needs at least two examples")
    num_classes = max(int(y.max()) + 1, num_classes or 0)
    if k is not None and k > n - 1:
        warnings.warn(f"the set has {n} examples, so k is capped at {n - 1} (was {k})", stacklevel=2)
        k = n - 1
    g = make_generator(seed, generator)
    if anchors == "all":
        anchor = torch.arange(n)
    else:
        new = sampling_counts(y, "auto", num_classes).tolist()
        pools = [torch.nonzero(y.cpu() == c).flatten() for c in range(num_classes)]
        anchor = torch.cat([pools[c][torch.randint(0, len(pools[c]), (s,), generator=g)]
                            for c, s in enumerate(new) if s > 0] or [torch.zeros(0, dtype=torch.long)])
    m = len(anchor)
    if k is None:  # uniform among the other n - 1 examples
        partner = (anchor + torch.randint(1, n, (m,), generator=g)) % n
    else:
        j = torch.randint(0, k, (m,), generator=g)
        anchor_d = anchor.to(device)
        nn_idx = knn_indices(x[anchor_d], x, k, exclude=anchor_d)
        partner = nn_idx.cpu()[torch.arange(m), j]
    u = sample_lambda(alpha, m, generator=g)  # Beta(α, α) is symmetric: u and 1 − u share the law
    anchor, partner, u = anchor.to(device), partner.to(device), u.to(device)
    x_new = _segment_points(x[anchor], x[partner], u)
    eye = torch.eye(num_classes, device=device)
    t_new = (1 - u)[:, None] * eye[y[anchor]] + u[:, None] * eye[y[partner]]
    if not return_info:
        return x_new, t_new
    return x_new, t_new, {"anchor": anchor, "partner": partner, "lam": 1 - u}


# ------------------------------------------------------------------------------- datasets

def oversample(x, y, method: str = "smote", *, k: int = 5, num_classes: int | None = None,
               seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The training set with synthetic points appended: ``(x_all, targets)``.

    ``"smote"`` returns hard labels (N + M,); ``"soft-smote"`` (minority anchors, k-NN partners of
    any class) returns soft targets (N + M, K), the original examples one-hot. Done once, before
    training, as in Chawla et al. 2002.
    """
    x, y = _as_xy(x, y)
    num_classes = max(int(y.max()) + 1, num_classes or 0)
    if method == "smote":
        x_new, y_new = smote(x, y, k=k, seed=seed)
        return torch.cat([x, x_new]), torch.cat([y, y_new])
    if method == "soft-smote":
        x_new, t_new = soft_smote(x, y, k=k, anchors="minority", num_classes=num_classes, seed=seed)
        eye = torch.eye(num_classes, device=x.device)
        return torch.cat([x, x_new]), torch.cat([eye[y], t_new])
    raise ValueError(f"unknown oversampling method {method!r}; valid: {', '.join(OVERSAMPLERS)}")
