"""Complementary-label generation: transition matrices Q and vectorised sampling from them.

A complementary label (CL) ȳ names a class an example is NOT. It is drawn from the row of its true
class in a transition matrix, ``Q[y, ȳ] = P(ȳ | y)`` (rows sum to 1). The families follow
docs/reference.md §2.1 and libcll (Ye, Mai, Wang, W.-I. Lin & H.-T. Lin 2024, arXiv 2411.12276);
labkit builds ``weak``/``strong``/``noisy`` for any K ≥ 4 (libcll: K = 10 only) and hands a method
the very matrix its labels came from. Taught in notebooks/01_complementary_labels.ipynb.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .._validation import integer, labels, positive, probability, seed as check_seed
from ..device import make_generator

__all__ = ["transition_matrix", "list_transitions", "check_transition", "sample_complementary",
           "empirical_transition", "to_multi_hot"]

# band masses of libcll's weak / strong matrices (each row: three bands of the K-1 other classes)
_BANDS = {"weak": (0.45, 0.30, 0.25), "strong": (0.75, 0.24, 0.01)}
_KINDS = ("uniform", "weak", "strong", "noisy", "dirichlet", "biased", "custom")


def list_transitions(custom: bool = True) -> list[str]:
    """Names accepted by :func:`transition_matrix`; ``custom=False`` leaves out ``"custom"``, which
    needs a matrix and so cannot be chosen by name alone (a command-line choice, a dropdown)."""
    return [k for k in _KINDS if custom or k != "custom"]


def check_transition(Q, num_classes: int | None = None, *, atol: float = 1e-4) -> torch.Tensor:
    """Validate a transition matrix and return it as a float32 tensor with rows renormalised.

    Q must be square K×K (K ≥ 2, equal to ``num_classes`` when given), finite, non-negative, with
    every row summing to 1 within ``atol``. Raises ValueError saying what is wrong otherwise.
    """
    if isinstance(Q, torch.Tensor):
        q = Q.detach()
    else:
        try:
            a = np.asarray(Q, dtype=np.float64)
        except (TypeError, ValueError):
            a = None
        if Q is None or a is None or a.dtype.kind not in "biuf":
            raise ValueError(f"Q must be a K×K matrix of probabilities (rows sum to 1), got {Q!r:.80}")
        q = torch.as_tensor(a)
    if q.is_complex() or q.dtype == torch.bool:
        raise ValueError(f"Q must hold real probabilities, got dtype {q.dtype}")
    if q.ndim != 2 or q.shape[0] != q.shape[1]:
        raise ValueError(f"Q must be a square K×K matrix, got shape {tuple(q.shape)}")
    k = q.shape[0]
    if k < 2:
        raise ValueError(f"Q needs at least 2 classes, got K = {k}")
    if num_classes is not None and k != num_classes:
        raise ValueError(f"Q is {k}×{k} but there are {num_classes} classes; it must be {num_classes}×{num_classes}")
    q = q.to(torch.float64)
    if not torch.isfinite(q).all():
        raise ValueError("Q contains NaN or infinite entries; every entry must be a finite probability")
    if (q < 0).any():
        raise ValueError(f"Q has negative entries (min {float(q.min()):.3g}); probabilities must be >= 0")
    sums = q.sum(1)
    bad = torch.nonzero((sums - 1).abs() > atol).flatten()
    if len(bad):
        r = int(bad[0])
        raise ValueError(f"every row of Q must sum to 1 (P(ȳ | y) over ȳ); row {r} sums to {float(sums[r]):.6g}")
    return (q / sums[:, None]).to(torch.float32)


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, torch.Generator):
        seed = int(torch.randint(0, 2**62, (1,), generator=seed))
    return np.random.default_rng(check_seed(seed))


def _banded(kind: str, k: int, rng: np.random.Generator) -> np.ndarray:
    """Each row: the K-1 other classes in a random order, cut into three bands of near-equal size."""
    q = np.zeros((k, k))
    for y in range(k):  # K rows of a K×K matrix: a loop over classes, not examples
        others = rng.permutation(np.delete(np.arange(k), y))
        for band, mass in zip(np.array_split(others, 3), _BANDS[kind]):
            q[y, band] = mass / len(band)
    return q


def transition_matrix(kind: str, num_classes: int, *, seed=None, noise: float = 0.1,
                      concentration: float = 1.0, rho: float = 10.0, matrix=None) -> torch.Tensor:
    """A K×K transition matrix ``Q[y, ȳ] = P(ȳ | y)`` of one family (docs/reference.md §2.1).

    - ``uniform``: (J − I)/(K − 1) (Ishida et al. 2017).
    - ``weak`` / ``strong``: zero diagonal; each row's K−1 other classes fall in three seeded random
      bands with total mass 0.45/0.30/0.25 (weak) or 0.75/0.24/0.01 (strong), shared equally inside a
      band (libcll; K = 10 gives its three bands of three). Needs K ≥ 4.
    - ``noisy``: (1 − η)·strong + η/K with the noise level η = ``noise``, built from the SAME seed's ``strong``; the
      true label itself has probability λ/K.
    - ``dirichlet``: each row's off-diagonal mass ~ Dirichlet(concentration·1); large concentration →
      uniform, small → very biased.
    - ``biased``: Q[y, c] ∝ ρ^(−c/(K−1)) for c ≠ y, rows normalised (the ICM paper's setup 2, ρ = 10).
    - ``custom``: ``matrix`` validated by :func:`check_transition`.

    ``seed`` (an int, a torch.Generator or None) fixes the random families. Returns float32.
    """
    if not isinstance(kind, str) or kind.lower() not in _KINDS:
        raise ValueError(f"unknown transition {kind!r}; valid names: {', '.join(_KINDS)}")
    kind = kind.lower()
    k = integer(num_classes, "num_classes", low=2)
    if kind == "custom":
        if matrix is None:
            raise ValueError(f"transition 'custom' is a matrix of your own: pass it as matrix=<a K×K "
                             f"row-stochastic matrix> (or, to an experiment, transition=<the matrix>); "
                             f"to choose by name, use one of {', '.join(list_transitions(custom=False))}")
        return check_transition(matrix, k)
    if matrix is not None:
        raise ValueError(f"matrix= is only used with kind='custom', not {kind!r}")
    if kind in ("weak", "strong", "noisy") and k < 4:
        raise ValueError(f"transition {kind!r} splits the K−1 other classes into three bands and needs "
                         f"K >= 4, got K = {k}; use 'uniform', 'biased' or 'dirichlet'")
    if kind == "noisy":
        noise = probability(noise, "noise", note="the noise level eta, the weight of the uniform part")
    if kind == "dirichlet":
        concentration = positive(concentration, "concentration")
    if kind == "biased":
        rho = positive(rho, "rho")
    off = 1.0 - np.eye(k)
    if kind == "uniform":
        q = off / (k - 1)
    elif kind in ("weak", "strong"):
        q = _banded(kind, k, _rng(seed))
    elif kind == "noisy":
        q = (1 - noise) * _banded("strong", k, _rng(seed)) + noise / k
    elif kind == "dirichlet":
        rng = _rng(seed)
        q = np.zeros((k, k))
        q[off.astype(bool)] = rng.dirichlet(np.full(k - 1, float(concentration)), size=k).ravel()
    else:  # biased
        w = float(rho) ** (-np.arange(k) / (k - 1))
        q = off * w[None, :]
        q = q / q.sum(1, keepdims=True)
    if not np.isfinite(q).all():  # cannot happen for valid arguments; never hand out NaN rows
        raise ValueError(f"transition {kind!r} with K={k} gave non-finite entries; check its parameters")
    return torch.as_tensor(q, dtype=torch.float32)


def _check_labels(y, num_classes: int) -> torch.Tensor:
    device = y.device if isinstance(y, torch.Tensor) else None
    out = labels(y, "y", num_classes)  # whole-number floats are accepted, fractional ones refused
    return out if device is None else out.to(device)


def _size_law(k: int) -> torch.Tensor:
    """Pr(|Ȳ|) = C(K−1, |Ȳ|)/(2^(K−1) − 1), |Ȳ| = 1..K−1: the size of a uniformly random non-empty subset."""
    c = torch.tensor([math.comb(k - 1, s) for s in range(1, k)], dtype=torch.float64)
    return c / c.sum()


def sample_complementary(y, Q, *, num_cl: int = 1, seed=None) -> torch.Tensor:
    """Draw complementary labels for true labels ``y`` from the rows of ``Q``.

    ``num_cl = 1``: a long tensor (N,) with ȳ ~ Q[y] (inverse-CDF sampling). ``num_cl = m > 1``: (N, m) DISTINCT labels, drawn
    one after another from Q[y] renormalised after each draw (the Gumbel-top-m trick gives exactly
    this law in one vectorised step). ``num_cl = 0``: a multi-hot float tensor (N, K) whose set size s
    follows P(s) = C(K−1, s)/(2^(K−1) − 1) (Feng et al., ICML 2020), the set drawn from Q[y] the same way.
    ``seed``: an int, a torch.Generator or None; numbers are drawn on the CPU and moved to y's device.
    """
    q = check_transition(Q)
    k = q.shape[0]
    y = _check_labels(y, k)
    num_cl = integer(num_cl, "num_cl", low=0, high=k - 1, note="0: a random-size set")
    need = k - 1 if num_cl == 0 else num_cl
    present = torch.bincount(y.cpu(), minlength=k) > 0
    short = torch.nonzero(present & ((q > 0).sum(1) < need)).flatten()
    if len(short):
        c = int(short[0])
        raise ValueError(f"row {c} of Q has only {int((q[c] > 0).sum())} labels with positive probability; "
                         f"num_cl={num_cl} needs at least {need} per row")
    g = make_generator(seed) if not isinstance(seed, torch.Generator) else seed
    if num_cl == 1:  # inverse-CDF: one uniform per example
        cdf = q.double().cumsum(1)
        last = (q > 0).long().cumsum(1) == (q > 0).sum(1, keepdim=True)  # from the last positive column on
        cdf[last] = 1.0  # so rounding can never land on a zero-probability label
        u = torch.rand(len(y), 1, dtype=torch.float64, generator=g)
        return torch.searchsorted(cdf[y.cpu()], u, right=True).squeeze(1).to(y.device)
    rows = q[y.cpu()]                                          # (N, K) on the CPU
    u = torch.rand(rows.shape, generator=g).clamp_min(1e-20)
    keys = rows.log() - (-u.log()).log()                       # log Q[y] + Gumbel noise
    if num_cl > 1:
        return keys.topk(num_cl, dim=1).indices.to(y.device)
    size = torch.multinomial(_size_law(k), len(y), replacement=True, generator=g) + 1
    order = keys.argsort(1, descending=True)
    chosen = (torch.arange(k)[None, :] < size[:, None]).float()
    return torch.zeros_like(rows).scatter_(1, order, chosen).to(y.device)


def to_multi_hot(cl, num_classes: int) -> torch.Tensor:
    """Complementary labels as a float (N, K) indicator: from (N,) or (N, m) long, or (N, K) already."""
    cl = torch.as_tensor(cl)
    if cl.dtype.is_floating_point or cl.dtype == torch.bool:
        if cl.ndim != 2 or cl.shape[1] != num_classes:
            raise ValueError(f"a multi-hot target must have shape (N, {num_classes}), got {tuple(cl.shape)}")
        if not bool((torch.isfinite(cl) & (cl >= 0)).all()):
            raise ValueError("a multi-hot or soft target must hold finite weights >= 0 (no NaN, no negative entry)")
        return cl.float()
    if cl.ndim not in (1, 2):
        raise ValueError(f"complementary labels must be (N,) or (N, m), got shape {tuple(cl.shape)}")
    idx = cl.long().view(len(cl), -1)
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= num_classes):
        raise ValueError(f"complementary labels must lie in 0..{num_classes - 1}, "
                         f"got range {int(idx.min())}..{int(idx.max())}")
    out = torch.zeros(len(cl), num_classes, device=cl.device)
    return out.scatter_(1, idx, 1.0)


def empirical_transition(y, cl, num_classes: int) -> torch.Tensor:
    """The transition matrix counted from labels: row y is the frequency of each CL among class y.

    ``cl`` is (N,), (N, m) or multi-hot (N, K); each label counts once. With one label per example it
    converges to Q. A class without examples gets a row of zeros.
    """
    y = _check_labels(y, num_classes)
    hot = to_multi_hot(cl, num_classes).to(torch.float64).cpu()
    if len(hot) != len(y):
        raise ValueError(f"y has {len(y)} labels but cl has {len(hot)} rows")
    counts = torch.zeros(num_classes, num_classes, dtype=torch.float64).index_add_(0, y.cpu(), hot)
    return (counts / counts.sum(1, keepdim=True).clamp_min(1)).float()
