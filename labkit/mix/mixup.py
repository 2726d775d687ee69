"""Mixup (Zhang et al. 2018, "mixup: Beyond Empirical Risk Minimization") for ordinary and
complementary labels.

    λ ~ Beta(α, α);   x̃ = λ·x_i + (1 − λ)·x_j;   t̃ = λ·e(ȳ_i) + (1 − λ)·e(ȳ_j)

For complementary labels (CLs) the mixed target is a SOFT complementary label, not a union
(Mai & Lin, "Intra-Cluster Mixup", arXiv 2509.17971). ``weighting="input"`` gives each label the
weight of its own input (the definition above); ``"reverse"`` swaps them (1 − λ on the example's
own label), a form found in the authors' code. Everything is vectorised over the batch; random
numbers are drawn on a CPU generator, so a seed gives the same result on every device.
Taught in notebooks/02_mixup_complementary_noise.ipynb.
"""
from __future__ import annotations

import numpy as np
import torch

from .._validation import integer, non_negative_int, one_of, positive, positive_int
from ..device import make_generator

__all__ = ["expected_mix_share", "sample_lambda", "sample_dirichlet", "random_partners", "mix", "soft_targets", "to_target_matrix",
           "WEIGHTINGS"]

WEIGHTINGS = ("input", "reverse")


def _check_alpha(alpha) -> float:
    return positive(alpha, "alpha", note="the Beta/Dirichlet concentration")


def _numpy_rng(generator: torch.Generator) -> np.random.Generator:
    # NumPy has Beta and Dirichlet samplers that accept a generator; torch's do not. Seed one from
    # the torch generator so the torch generator stays the single source of randomness.
    return np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator)))


def expected_mix_share(alpha: float) -> float:
    """E[λ(1 − λ)] for λ ~ Beta(α, α):  α / (2(2α + 1)).

    When example i's complementary label is its partner's true class (a noisy pair), the target
    says "not y_j" with weight λ about an input that is (1 − λ) class y_j: the contradiction is
    λ(1 − λ). Its mean is 1/6 ≈ 0.167 at α = 1 and 0.071 at α = 0.2 (→ 0 as α → 0, → 1/4 as
    α → ∞), while the RATE of noisy pairs does not depend on α at all. For Beta(a, b): E[λ] = a/(a + b) and
    E[λ²] = a(a + 1)/((a + b)(a + b + 1)), so with a = b = α, E[λ(1 − λ)] = 1/2 − (α + 1)/(2(2α + 1)).
    """
    alpha = _check_alpha(alpha)
    return alpha / (2 * (2 * alpha + 1))


def sample_lambda(alpha: float, size: int | None = None, generator: torch.Generator | None = None, *,
                  seed: int | None = None) -> torch.Tensor:
    """Mixing weights λ ~ Beta(α, α): a 0-d tensor (``size=None``) or a vector of ``size``.

    Small α puts λ near 0 or 1 (mild mixing); α = 1 is uniform. Zhang et al. 2018.
    """
    alpha = _check_alpha(alpha)
    if size is not None:
        size = non_negative_int(size, "size", note="or None for a single weight")
    rng = _numpy_rng(make_generator(seed, generator))
    lam = rng.beta(alpha, alpha, size=size)
    return torch.as_tensor(lam, dtype=torch.float32)


def sample_dirichlet(alpha: float, size: int, parts: int = 3, generator: torch.Generator | None = None, *,
                     seed: int | None = None) -> torch.Tensor:
    """Weights w ~ Dirichlet(α, …, α) with ``parts`` components, shape (size, parts); rows sum to 1.

    Used by MICM (three cluster-mates, Dirichlet(α, α, α)); Mai & Lin 2025.
    """
    alpha = _check_alpha(alpha)
    parts = integer(parts, "parts", low=2)
    size = non_negative_int(size, "size")
    rng = _numpy_rng(make_generator(seed, generator))
    return torch.as_tensor(rng.dirichlet([alpha] * parts, size=size), dtype=torch.float32)


def random_partners(n: int, generator: torch.Generator | None = None, *, seed: int | None = None,
                    permutation: bool = False, device=None) -> torch.Tensor:
    """A Mixup partner index for each of ``n`` batch members, long tensor (n,).

    Default: each partner drawn uniformly among the OTHER n − 1 members (independently per example),
    the law that intra-cluster partners follow inside one cluster, and the one under which the
    closed-form noise rates hold exactly. ``permutation=True`` gives the classic ``x[randperm(n)]``
    of Zhang et al. (every example is used once as a partner; about one example is its own partner).
    With n = 1 the example is its own partner (left unmixed).
    """
    n = positive_int(n, "n", note="the batch size, a positive integer")
    g = make_generator(seed, generator)
    if permutation:
        partner = torch.randperm(n, generator=g)
    elif n == 1:
        partner = torch.zeros(1, dtype=torch.long)
    else:
        shift = torch.randint(1, n, (n,), generator=g)
        partner = (torch.arange(n) + shift) % n
    return partner.to(device) if device is not None else partner


def _as_lam(lam, n: int, like: torch.Tensor) -> torch.Tensor:
    lam = torch.as_tensor(lam, dtype=torch.float32, device=like.device)
    if lam.ndim == 0:
        lam = lam.expand(n)
    if lam.ndim != 1 or len(lam) != n:
        raise ValueError(f"lam must be a scalar or one weight per example ({n}), got shape {tuple(lam.shape)}")
    if not bool(((lam >= 0) & (lam <= 1)).all()):
        raise ValueError("lam must lie in [0, 1]")
    return lam


def _check_partner(partner, n: int, device) -> torch.Tensor:
    partner = torch.as_tensor(partner, device=device)
    if partner.dtype not in (torch.int64, torch.int32) or partner.shape != (n,):
        raise ValueError(f"partner must be an integer index per example, shape ({n},), "
                         f"got {partner.dtype} of shape {tuple(partner.shape)}")
    if n and (int(partner.min()) < 0 or int(partner.max()) >= n):
        raise ValueError(f"partner indices must lie in 0..{n - 1}")
    return partner.long()


def mix(x: torch.Tensor, partner, lam) -> torch.Tensor:
    """Mixed inputs x̃_i = λ_i·x_i + (1 − λ_i)·x_{partner_i}; λ a scalar or a per-example vector."""
    if not isinstance(x, torch.Tensor) or x.ndim < 1:
        raise ValueError("x must be a batch tensor (B, ...)")
    n = len(x)
    partner = _check_partner(partner, n, x.device)
    lam = _as_lam(lam, n, x).to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
    return lam * x + (1 - lam) * x[partner]


def to_target_matrix(target, num_classes: int) -> torch.Tensor:
    """Targets as a float matrix (B, K): hard labels become one-hot rows; (B, K) soft or multi-hot
    targets are returned as float unchanged."""
    num_classes = integer(num_classes, "num_classes", low=2)
    target = torch.as_tensor(target)
    if target.ndim == 1:
        if target.is_floating_point():
            raise ValueError("1-D targets must be integer class indices (long); give soft targets as (B, K)")
        if len(target) and (int(target.min()) < 0 or int(target.max()) >= num_classes):
            raise ValueError(f"class indices must lie in 0..{num_classes - 1}")
        return torch.nn.functional.one_hot(target.long(), num_classes).float()
    if target.ndim == 2 and target.shape[1] == num_classes:
        return target.float()
    raise ValueError(f"target must be class indices (B,) or a (B, {num_classes}) matrix, "
                     f"got shape {tuple(target.shape)}")


def soft_targets(target, partner, lam, num_classes: int, weighting: str = "input") -> torch.Tensor:
    """Soft (complementary) targets of a mixed batch, (B, K) float.

    ``input``:   t_i = λ_i·e_i + (1 − λ_i)·e_{partner_i}   (each label weighted like its input)
    ``reverse``: t_i = (1 − λ_i)·e_i + λ_i·e_{partner_i}   (the swapped form in the ICM authors' code)
    where e_i is example i's target row: one-hot e(ȳ_i) for hard labels, or the given soft / multi-hot row. One-hot targets give
    rows that sum to 1; an example that is its own partner keeps its target exactly.
    """
    one_of(weighting, "weighting", WEIGHTINGS)
    t = to_target_matrix(target, num_classes)
    n = len(t)
    partner = _check_partner(partner, n, t.device)
    lam = _as_lam(lam, n, t)[:, None]
    if weighting == "reverse":
        lam = 1 - lam
    return lam * t + (1 - lam) * t[partner]
