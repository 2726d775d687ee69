"""Complementary-label noise created by mixing, measured and predicted.

A mixed pair (i, j) is NOISY when one example's complementary label is the other's TRUE label:
ȳ_i = y_j or ȳ_j = y_i. The mixed soft target then says "not class c" about an input that is
partly of class c. Mai & Lin, "Intra-Cluster Mixup" (arXiv 2509.17971), section on CL noise.

Closed forms (docs/reference.md §3.2; labkit's tests check them by simulation):

- pair noise, any Q and class prior π: Σ_{c,c′} π_c π_c′ (Q[c,c′] + Q[c′,c] − Q[c,c′]·Q[c′,c]);
  for uniform Q and balanced classes (2K − 3)/(K(K − 1)), i.e. 18.9% at K = 10;
- λ-weighted noisy label mass E[λ·1{ȳ_i = y_j} + (1 − λ)·1{ȳ_j = y_i}] = 1/K (uniform, balanced);
- partners that share the true class with probability p: (1 − p)(2K − 3)/(K − 1)².

Taught in notebooks/02_mixup_complementary_noise.ipynb and 03_intra_cluster_mixup.ipynb.
"""
from __future__ import annotations

import torch

from .._validation import integer, one_of, probability
from .mixup import WEIGHTINGS, _check_partner, to_target_matrix

__all__ = ["pair_noise", "noisy_mass", "mixed_noise", "noisy_pairs", "expected_pair_noise",
           "expected_noisy_mass", "expected_cluster_noise", "noise_free_partners", "cluster_noise_rate"]


def _labels(y, device=None) -> torch.Tensor:
    y = torch.as_tensor(y, device=device)
    if y.ndim != 1 or y.is_floating_point():
        raise ValueError(f"y must be integer true labels, shape (B,), got {y.dtype} {tuple(y.shape)}")
    return y.long()


def _components(partners, n: int, device) -> torch.Tensor:
    """Indices of every component of each mixed example, (B, P + 1): the example, then its partners."""
    partners = torch.as_tensor(partners, device=device)
    if partners.ndim == 1:
        partners = _check_partner(partners, n, device)[:, None]
    elif partners.ndim == 2 and len(partners) == n:
        partners = torch.stack([_check_partner(p, n, device) for p in partners.T], 1)
    else:
        raise ValueError(f"partners must have shape ({n},) or ({n}, P), got {tuple(partners.shape)}")
    return torch.cat([torch.arange(n, device=device)[:, None], partners], 1)


def mixed_noise(y, cl, partners, label_weights=None, num_classes: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example noise of mixed examples with any number of partners (Mixup: 1, MICM: 2).

    Returns ``(noisy, mass)``, both (B,): ``noisy`` is 1 when some component's CL row puts mass on
    the true label of ANOTHER component (a different example); ``mass`` is the part of the mixed
    soft target that lands on such a label, Σ_a w_a Σ_c T_a[c]·1{c ∈ true labels of the others},
    with ``label_weights`` w (B, P + 1) the weights of the labels in the soft target (None: mass
    is not computed, zeros). A component equal to the example itself (unmixed) adds no noise.
    """
    y = _labels(y)
    n = len(y)
    k = num_classes if num_classes is not None else (cl.shape[1] if torch.as_tensor(cl).ndim == 2
                                                     else int(torch.as_tensor(cl).max().clamp(min=y.max())) + 1)
    t = to_target_matrix(torch.as_tensor(cl, device=y.device), max(int(k), 2))
    if len(t) != n:
        raise ValueError(f"y and cl have different lengths: {n} and {len(t)}")
    comp = _components(partners, n, y.device)                       # (B, C)
    other = comp[:, :, None] != comp[:, None, :]                    # (B, C, C) distinct examples
    onehot_y = torch.nn.functional.one_hot(y[comp], t.shape[1]).float()  # (B, C, K)
    # hit[b, a, c] = 1 when class c is the true label of a component other than a
    hit = (torch.einsum("bae,bek->bak", other.float(), onehot_y) > 0).float()
    rows = t[comp]                                                  # (B, C, K)
    on_other = (rows * hit).sum(2)                                  # (B, C) CL mass on others' labels
    noisy = (on_other > 0).any(1).float()
    if label_weights is None:
        return noisy, torch.zeros_like(noisy)
    w = torch.as_tensor(label_weights, dtype=torch.float32, device=y.device)
    if w.shape != comp.shape:
        raise ValueError(f"label_weights must have shape {tuple(comp.shape)}, got {tuple(w.shape)}")
    return noisy, (w * on_other).sum(1)


def noisy_pairs(y, cl, partner) -> torch.Tensor:
    """Boolean (B,): pair (i, partner_i) is noisy, ȳ_i = y_j or ȳ_j = y_i (or, for multi-hot /
    soft CL rows, y_j ∈ Ȳ_i or y_i ∈ Ȳ_j). A self-pair (an unmixed example) is never noisy."""
    return mixed_noise(y, cl, partner)[0].bool()


def pair_noise(y, cl, partner) -> float:
    """Fraction of the MIXED examples whose pair is noisy: mean over {i: j ≠ i} of
    1{ȳ_i = y_j or ȳ_j = y_i}, j = partner_i.

    An unmixed example (its own partner: alone in its cluster, or left out) is neither noisy nor
    clean and is not counted; NaN when no example is mixed. Expected (2K − 3)/(K(K − 1)) with
    random partners, uniform CLs and balanced classes, whether or not some examples are unmixed.
    """
    y = _labels(y)
    noisy = noisy_pairs(y, cl, partner)  # checks every argument
    comp = _components(partner, len(y), y.device)
    mixed = (comp[:, 1:] != comp[:, :1]).any(1)
    return float(noisy[mixed].float().mean()) if bool(mixed.any()) else float("nan")


def noisy_mass(y, cl, partner, lam, weighting: str = "input") -> float:
    """Mean mass of the mixed soft CL that lies on a partner's TRUE label:
    mean_i [λ_i·e_i[y_j] + (1 − λ_i)·e_j[y_i]] (e_i example i's CL target row) for ``weighting="input"`` (λ and 1 − λ swapped for
    ``"reverse"``). Expected 1/K with uniform CLs and balanced classes, whatever the law of λ."""
    y = _labels(y)
    lam = torch.as_tensor(lam, dtype=torch.float32, device=y.device)
    lam = lam.expand(len(y)) if lam.ndim == 0 else lam
    one_of(weighting, "weighting", WEIGHTINGS)
    if lam.shape != y.shape:
        raise ValueError(f"lam must be a scalar or one weight per example ({len(y)}), got {tuple(lam.shape)}")
    if weighting == "reverse":
        lam = 1 - lam
    return float(mixed_noise(y, cl, partner, torch.stack([lam, 1 - lam], 1))[1].mean())


def _check_q(Q) -> torch.Tensor:
    Q = torch.as_tensor(Q, dtype=torch.float64)
    if Q.ndim != 2 or Q.shape[0] != Q.shape[1] or Q.shape[0] < 2:
        raise ValueError(f"Q must be a square K x K matrix with K >= 2, got shape {tuple(Q.shape)}")
    if bool((Q < 0).any()) or not torch.allclose(Q.sum(1), torch.ones(len(Q), dtype=Q.dtype), atol=1e-6):
        raise ValueError("Q must be non-negative with rows summing to 1 (Q[y, c] = P(ȳ = c | y))")
    return Q


def _check_prior(prior, k: int) -> torch.Tensor:
    if prior is None:
        return torch.full((k,), 1.0 / k, dtype=torch.float64)
    prior = torch.as_tensor(prior, dtype=torch.float64)
    if prior.shape != (k,) or bool((prior < 0).any()) or float(prior.sum()) <= 0:
        raise ValueError(f"prior must be {k} non-negative class weights, got {prior.tolist()}")
    return prior / prior.sum()


def expected_pair_noise(Q, prior=None) -> float:
    """Probability that a pair of independent examples is noisy, for transition matrix Q and class
    prior π (default balanced):  Σ_{c,c′} π_c π_c′ (Q[c,c′] + Q[c′,c] − Q[c,c′]·Q[c′,c]).

    The c = c′ terms vanish when Q has a zero diagonal (every family but "noisy"), which gives
    the Σ_{c≠c′} of docs/reference.md §3.2; uniform Q, balanced: (2K − 3)/(K(K − 1)). Mai & Lin 2025.
    """
    Q = _check_q(Q)
    p = _check_prior(prior, len(Q))
    event = Q + Q.T - Q * Q.T
    return float(p @ event @ p)


def expected_noisy_mass(Q, prior=None) -> float:
    """Expected noisy label mass E[λ·1{ȳ_i = y_j} + (1 − λ)·1{ȳ_j = y_i}] = Σ_{c,c′} π_c π_c′ Q[c,c′]
    (independent of the law of λ by symmetry); 1/K for uniform Q and balanced classes."""
    Q = _check_q(Q)
    p = _check_prior(prior, len(Q))
    return float(p @ Q @ p)


def expected_cluster_noise(purity: float, num_classes: int) -> float:
    """Pair noise with uniform CLs when a partner shares the true class with probability p
    (cluster purity): (1 − p)(2K − 3)/(K − 1)². Pure clusters (p = 1) give no noise; p = 1/K
    (random partners, balanced) gives back (2K − 3)/(K(K − 1)). Mai & Lin 2025."""
    k = integer(num_classes, "num_classes", low=2)
    p = probability(purity, "purity", note="the probability that a partner shares the true class")
    return (1 - p) * (2 * k - 3) / (k - 1) ** 2


def noise_free_partners(y, cl, partners) -> torch.Tensor:
    """ORACLE (analysis only, uses true labels): the partners with every noisy mix undone, i.e. an
    example whose mix would be noisy becomes its own partner (left unmixed). Keeps exactly the
    pairs with ȳ_i ≠ y_j and ȳ_j ≠ y_i. Shape as ``partners`` ((B,) or (B, P))."""
    y = _labels(y)
    noisy = mixed_noise(y, cl, partners)[0].bool()
    partners = torch.as_tensor(partners, device=y.device).clone()
    self_index = torch.arange(len(y), device=y.device)
    if partners.ndim == 1:
        return torch.where(noisy, self_index, partners)
    return torch.where(noisy[:, None], self_index[:, None].expand_as(partners), partners)


def cluster_noise_rate(cluster_ids, y, cl) -> torch.Tensor:
    """Per example, the probability that its pair with a cluster-mate drawn uniformly among the
    OTHER members of its cluster (over the whole set) is noisy, (N,) float:

        (#{j: y_j = ȳ_i} + #{j: ȳ_j = y_i} − #{j: both}) / (m − 1),   j ≠ i in i's cluster of size m

    (one CL per example; an example alone in its cluster: 0). Its mean is ICM's expected pair noise
    for these clusters; with a single cluster it is Mixup's. Counted with bincounts, no loops.
    """
    y, cl, c = _labels(y), _labels(cl), _labels(cluster_ids)
    if not (len(y) == len(cl) == len(c)):
        raise ValueError(f"cluster_ids, y and cl must have the same length, got {len(c)}, {len(y)}, {len(cl)}")
    _, c = torch.unique(c, return_inverse=True)
    k = int(torch.maximum(y.max(), cl.max())) + 1
    nc = int(c.max()) + 1
    by_y = torch.bincount(c * k + y, minlength=nc * k).reshape(nc, k)
    by_cl = torch.bincount(c * k + cl, minlength=nc * k).reshape(nc, k)
    joint = torch.bincount((c * k + y) * k + cl, minlength=nc * k * k).reshape(nc, k, k)
    size = torch.bincount(c, minlength=nc)
    self_hits = (y == cl).long()  # i itself counts in each table only when ȳ_i = y_i (noisy Q)
    a = by_y[c, cl] - self_hits
    b = by_cl[c, y] - self_hits
    both = joint[c, cl, y] - self_hits
    others = size[c] - 1
    return torch.where(others > 0, (a + b - both).double() / others.clamp_min(1), torch.zeros_like(a).double())
