"""Uneven margins for imbalanced data: Mixup / Remix / MAMix label weights, DRW, LDAM, and margins.

labkit's Mixup convention (docs/reference.md §4.3): x̃ = λ·x_i + (1 − λ)·x_j and the mixed target is
w·e(y_i) + (1 − w)·e(y_j); the rules below give the weight w on the sample's OWN label y_i:

- Mixup (Zhang et al. 2018):   w = λ.
- Remix (Chou et al. 2020):    w = 0 if n_i/n_j ≥ κ and λ < θ;  w = 1 if n_i/n_j ≤ 1/κ and 1 − λ < θ;
                               else λ   (κ = 3, threshold θ = ``tau`` = 0.5, the Remix paper's τ).
- MAMix (Cheng, Mai & Lin 2023, "From SMOTE to Mixup for deep imbalanced classification"):
  m = n_i^r / (n_i^r + n_j^r) (r = −1/4); w is piecewise linear through (0, 0), (1 − m, ½), (1, 1).
  r = 0 or n_i = n_j gives w = λ. 5000 vs 50: m ≈ 0.2403, so an input 76% head is labelled half
  head, half tail; the implied per-class margins are ∝ n_c^(−1/4), LDAM's optimal ratio.

(The imbalanced-DL package writes the partner's weight as λ; here λ is the sample's own weight.)
Also: class-balanced weights and deferred re-weighting (DRW, Cui et al. 2019; Cao et al. 2019),
LDAM (Cao et al. 2019) with a cosine classifier, and the soft-target loss that trains all of them;
the margins they produce are measured by :mod:`labkit.mix.boundary` (re-exported here).
Taught in notebooks/04_smote_to_mixup_margins.ipynb.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import non_negative_int, number, one_of, positive, probability
from ..device import make_generator
from .boundary import boundary_distances, class_margins, decision_grid, per_class_summary, sample_margins
from .mixup import random_partners, sample_lambda

__all__ = ["mixup_weight", "remix_weight", "mamix_weight", "mamix_m", "LABEL_WEIGHTS", "list_label_weights",
           "class_balanced_weights", "drw_weights", "ldam_margins", "LDAMLoss", "CosineClassifier",
           "use_cosine_head", "soft_cross_entropy", "ImbalancedLoss", "STRATEGY_LOSSES", "LAM_PER", "LOSS_NORMS",
           "sample_margins", "class_margins", "per_class_summary", "decision_grid", "boundary_distances"]


# ------------------------------------------------------------------------- label-weight rules

def _lam_counts(lam, n_i, n_j):
    lam = torch.as_tensor(lam, dtype=torch.float32)
    n_i = torch.as_tensor(n_i, dtype=torch.float32, device=lam.device)
    n_j = torch.as_tensor(n_j, dtype=torch.float32, device=lam.device)
    if not bool(((lam >= 0) & (lam <= 1)).all()):
        raise ValueError("lam (the sample's own mixing weight) must lie in [0, 1]")
    _check_counts(n_i, n_j)
    return lam, n_i, n_j


def _check_counts(n_i: torch.Tensor, n_j: torch.Tensor) -> None:
    if not bool(((n_i > 0) & torch.isfinite(n_i)).all() & ((n_j > 0) & torch.isfinite(n_j)).all()):
        raise ValueError("class counts n_i and n_j must be positive finite numbers (a class with no example "
                         "has no margin to set)")


def mixup_weight(lam, n_i=None, n_j=None) -> torch.Tensor:
    """Mixup's weight on y_i: w = λ (counts ignored; Zhang et al. 2018)."""
    lam = torch.as_tensor(lam, dtype=torch.float32)
    if not bool(((lam >= 0) & (lam <= 1)).all()):
        raise ValueError("lam (the sample's own mixing weight) must lie in [0, 1]")
    return lam.clone()


def remix_weight(lam, n_i, n_j, kappa: float = 3.0, tau: float = 0.5) -> torch.Tensor:
    """Remix's weight on y_i (Chou et al. 2020): the minority label takes the whole target.

    w = 0 if n_i/n_j ≥ κ and λ < θ;  w = 1 if n_i/n_j ≤ 1/κ and 1 − λ < θ;  else w = λ  (θ = ``tau``).
    """
    kappa, tau = _check_remix(kappa, tau)
    return _remix(*_lam_counts(lam, n_i, n_j), kappa, tau)


def _check_remix(kappa, tau) -> tuple[float, float]:
    return (number(kappa, "kappa", low=1, finite=False, note="the count ratio at which Remix acts"),
            probability(tau, "tau", note="Remix's threshold on the mixing weight"))


def _check_r(r) -> float:
    return number(r, "r", note="MAMix's exponent; the paper uses -0.25")


def _remix(lam, n_i, n_j, kappa, tau):
    ratio = n_i / n_j
    w = torch.where((ratio >= kappa) & (lam < tau), torch.zeros_like(lam), lam)
    return torch.where((ratio <= 1 / kappa) & (1 - lam < tau), torch.ones_like(lam), w)


def mamix_m(n_i, n_j, r: float = -0.25) -> torch.Tensor:
    """MAMix's crossover m = n_i^r / (n_i^r + n_j^r): the input share of y_j labelled ½ (counts > 0)."""
    n_i = torch.as_tensor(n_i, dtype=torch.float32)
    n_j = torch.as_tensor(n_j, dtype=torch.float32, device=n_i.device)
    _check_counts(n_i, n_j)
    r = _check_r(r)
    # log-space form: m = σ(r·(log n_i − log n_j)) never overflows for large counts or |r|.
    return torch.sigmoid(r * (torch.log(n_i) - torch.log(n_j)))


def mamix_weight(lam, n_i, n_j, r: float = -0.25) -> torch.Tensor:
    """MAMix's weight on y_i (Cheng, Mai & Lin 2023): piecewise linear through
    (λ = 0, w = 0), (λ = 1 − m, w = ½), (λ = 1, w = 1) with m = n_i^r/(n_i^r + n_j^r):

        w = λ / (2(1 − m))            for λ ≤ 1 − m,
        w = 1 − (1 − λ) / (2m)        for λ > 1 − m.
    """
    return _mamix(*_lam_counts(lam, n_i, n_j), _check_r(r))


def _mamix(lam, n_i, n_j, r):
    m = torch.sigmoid(r * (torch.log(n_i) - torch.log(n_j))).clamp(1e-12, 1 - 1e-12)
    return torch.where(lam <= 1 - m, lam / (2 * (1 - m)), 1 - (1 - lam) / (2 * m))


LABEL_WEIGHTS: dict[str, Callable[..., torch.Tensor]] = {
    "mixup": mixup_weight, "remix": remix_weight, "mamix": mamix_weight}
# The same rules without input checks, for the training loop (its λ and counts are valid by
# construction, and the checks would cost a device sync per step).
_FAST_WEIGHTS = {"mixup": lambda lam, n_i, n_j: lam, "remix": _remix, "mamix": _mamix}


def list_label_weights() -> list[str]:
    """Names of the label-weight rules: mixup, remix, mamix."""
    return list(LABEL_WEIGHTS)


# ----------------------------------------------------------------------- re-weighting: CB, DRW

def _counts(counts) -> torch.Tensor:
    counts = torch.as_tensor(counts.tolist() if isinstance(counts, torch.Tensor) else counts, dtype=torch.float64)
    if counts.ndim != 1 or len(counts) < 1 or bool((counts < 1).any()):
        raise ValueError(f"counts must be a 1-D list of positive class counts, got {counts.tolist()}")
    return counts


def _check_beta(beta) -> float:
    return number(beta, "beta", low=0, high=1, high_open=True, note="the effective-number decay")


def class_balanced_weights(counts, beta: float = 0.9999) -> torch.Tensor:
    """Class-balanced weights ω_c = (1 − β)/(1 − β^{n_c}), normalised to sum K (Cui et al. 2019).

    The "effective number" (1 − β^n)/(1 − β) of n examples; β → 1 gives ω_c ∝ 1/n_c, β = 0 equal
    weights.
    """
    counts = _counts(counts)
    beta = _check_beta(beta)
    w = (1 - beta) / (1 - torch.pow(torch.tensor(beta, dtype=torch.float64), counts))
    return (w / w.sum() * len(counts)).float()


def drw_weights(counts, epoch: int, drw_epoch: int | None, beta: float = 0.9999) -> torch.Tensor:
    """Deferred re-weighting (Cao et al. 2019): all ones for the first ``drw_epoch`` epochs, then
    :func:`class_balanced_weights`. Epochs count from 1, so ``drw_epoch=160`` of 200 trains 160
    plain epochs and 40 re-weighted ones (the package's schedule); ``drw_epoch=0`` re-weights from
    the start (plain class-balanced loss); ``None`` never re-weights."""
    counts = _counts(counts)
    if drw_epoch is not None:
        drw_epoch = non_negative_int(drw_epoch, "drw_epoch", note="or None to never re-weight")
    if drw_epoch is None or epoch <= drw_epoch:
        return torch.ones(len(counts))
    return class_balanced_weights(counts, beta)


# ------------------------------------------------------------------------------------ LDAM

def ldam_margins(counts, max_margin: float = 0.5) -> torch.Tensor:
    """LDAM's per-class margins Δ_c = max_margin · n_c^(−1/4) / max_c' n_c'^(−1/4) (Cao et al. 2019);
    the rarest class gets exactly ``max_margin``."""
    counts = _counts(counts)
    max_margin = positive(max_margin, "max_margin")
    d = counts ** -0.25
    return (max_margin * d / d.max()).float()


class CosineClassifier(nn.Module):
    """Logits are cosines cos(W_c, h) = ⟨W_c/‖W_c‖, h/‖h‖⟩ ∈ [−1, 1], W_c the weight row of class c (the
    package's NormedLinear); LDAM divides them by a temperature τ in the loss (1/τ = ``scale``)."""

    def __init__(self, in_features: int, num_classes: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, in_features).uniform_(-1, 1) / math.sqrt(in_features))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return F.normalize(h, dim=1) @ F.normalize(self.weight, dim=1).t()


def use_cosine_head(model: nn.Module) -> nn.Module:
    """Replace a labkit Classifier's linear ``head`` by a :class:`CosineClassifier` (in place)."""
    head = getattr(model, "head", None)
    if not isinstance(head, nn.Linear):
        raise ValueError("use_cosine_head needs a model with a linear .head (every labkit Classifier)")
    model.head = CosineClassifier(head.in_features, head.out_features).to(head.weight.device)
    return model


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor, class_weights: torch.Tensor | None = None,
                       norm: str = "weights") -> torch.Tensor:
    """Cross-entropy with soft targets and optional class weights, a weighted batch mean:

        Σ_b Σ_k w_k t_bk (−log softmax(z_b)_k) / Σ_b Σ_k w_k t_bk,

    which is PyTorch's weighted ``cross_entropy`` for one-hot targets; Mixup's mixed target
    w·e(y_i) + (1 − w)·e(y_j) gives w·ℓ(y_i) + (1 − w)·ℓ(y_j) weighted per class. ``norm="batch"``
    divides by the batch size B instead (``cross_entropy(weight=w, reduction="none").mean()``).
    """
    k, norm = logits.shape[1], one_of(norm, "norm", LOSS_NORMS)
    t = F.one_hot(target, k).to(logits.dtype) if target.ndim == 1 else target.to(logits.dtype)
    if t.shape != logits.shape:
        raise ValueError(f"targets of shape {tuple(t.shape)} do not match logits {tuple(logits.shape)}")
    if class_weights is not None:
        t = t * class_weights.to(logits.device, logits.dtype)
    nll = -(t * F.log_softmax(logits.float(), dim=1)).sum()
    return nll / (len(logits) if norm == "batch" else t.sum().clamp_min(1e-12))


def _two_label_loss(logits, y_i, y_j, w, class_weights, loss_norm: str = "weights"):
    """soft_cross_entropy for the target w·e(y_i) + (1 − w)·e(y_j), without building the (B, K)
    target: Σ (a·ℓ(y_i) + b·ℓ(y_j)) / Σ (a + b), a = w·c_{y_i}, b = (1 − w)·c_{y_j}; with
    ``loss_norm="batch"`` the same sum divided by the batch size B (the imbalanced-DL package)."""
    logp = F.log_softmax(logits.float(), dim=1)
    a, b = w * class_weights[y_i], (1 - w) * class_weights[y_j]
    nll = -(a * logp.gather(1, y_i[:, None]).squeeze(1) + b * logp.gather(1, y_j[:, None]).squeeze(1)).sum()
    return nll / (len(y_i) if loss_norm == "batch" else (a + b).sum().clamp_min(1e-12))


class LDAMLoss(nn.Module):
    """Label-distribution-aware margin loss (Cao et al. 2019):

        loss = CE((f − Δ_y·e(y))/τ, y),   Δ_c = max_margin · n_c^(−1/4) / max n^(−1/4),

    for cosine logits f and 1/τ = ``scale`` = 30 (the LDAM paper's s; use :func:`use_cosine_head`;
    with a plain linear head pass ``scale=1``).
    ``weight`` (per class) gives LDAM-DRW when set late by :class:`ImbalancedLoss`.
    """

    def __init__(self, counts, max_margin: float = 0.5, scale: float = 30.0, weight=None):
        super().__init__()
        scale = positive(scale, "scale")
        self.register_buffer("margins", ldam_margins(counts, max_margin))
        self.register_buffer("weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32))
        self.scale = float(scale)

    def forward(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if y.ndim != 1:
            raise ValueError("LDAM needs hard labels (B,)")
        shifted = logits.float() - F.one_hot(y, logits.shape[1]) * self.margins.to(logits.device)[y, None]
        return soft_cross_entropy(self.scale * shifted, y, self.weight)


# --------------------------------------------------------------- one loss_fn per strategy

LAM_PER = ("example", "batch")
LOSS_NORMS = ("weights", "batch")
STRATEGY_LOSSES = ("erm", "reweight-cb", "drw", "ldam-drw", "mixup-drw", "remix-drw", "mamix-drw",
                   "mixup", "remix", "mamix")


class ImbalancedLoss(nn.Module):
    """``loss_fn(model, batch)`` for :func:`labkit.train.fit` for one imbalanced-learning strategy.

    ``kind``: ``erm`` (CE; also SMOTE's hard and soft-SMOTE's soft targets), ``reweight-cb``
    (class-balanced CE from the start), ``drw`` (CE, class-balanced after ``drw_epoch``),
    ``ldam-drw`` (LDAM + DRW; give the model a cosine head), ``mixup``/``remix``/``mamix`` (mixed
    inputs, the rule's label weight w on y_i) and their ``-drw`` forms. ``counts`` are the training
    class counts n_c (MAMix's and Remix's n_i, n_j, and the DRW weights). ``set_epoch`` is called by
    ``fit``. The logs include ``label_weight`` (mean w on the own label) for the mixing rules.
    Training accuracy is not computed: no second forward pass.

    ``lam_per``: one λ ~ Beta(α, α) per ``"example"`` (labkit) or per ``"batch"`` (imbalanced-DL
    and Zhang et al.'s code). ``loss_norm``: the re-weighted loss divided by the sum of the weights
    (``"weights"``, labkit) or by the batch size (``"batch"``, the package); equal while all weights
    are 1. LDAM-DRW keeps the weighted mean under both, as the package's LDAM loss does.
    """

    def __init__(self, kind: str, counts, *, drw_epoch: int | None = None, beta: float = 0.9999,
                 alpha: float = 1.0, r: float = -0.25, kappa: float = 3.0, tau: float = 0.5,
                 max_margin: float = 0.5, scale: float = 30.0, lam_per: str = "example",
                 loss_norm: str = "weights", seed: int | None = None):
        super().__init__()
        if kind not in STRATEGY_LOSSES:
            raise ValueError(f"unknown strategy loss {kind!r}; valid: {', '.join(STRATEGY_LOSSES)}")
        self.lam_per = one_of(lam_per, "lam_per", LAM_PER, note="one λ per example or per batch")
        self.loss_norm = one_of(loss_norm, "loss_norm", LOSS_NORMS, note="divide by the sum of weights or by B")
        beta, r = _check_beta(beta), _check_r(r)
        kappa, tau = _check_remix(kappa, tau)
        if drw_epoch is not None:
            drw_epoch = non_negative_int(drw_epoch, "drw_epoch", note="or None to never re-weight")
        self.kind, self.beta = kind, beta
        self.register_buffer("counts", _counts(counts).float())
        self.rule = kind.removesuffix("-drw") if kind.removesuffix("-drw") in LABEL_WEIGHTS else None
        self.rule_kw = {"mamix": {"r": r}, "remix": {"kappa": kappa, "tau": tau}}.get(self.rule, {})
        self.alpha = positive(alpha, "alpha", note="the Beta concentration of the mixing weight") \
            if self.rule is not None else alpha
        # DRW switches on after drw_epoch; reweight-cb from the start; plain rules never.
        self.drw_epoch = 0 if kind == "reweight-cb" else drw_epoch if kind.endswith("drw") else None
        if kind.endswith("drw") and drw_epoch is None:
            raise ValueError(f"strategy {kind!r} needs drw_epoch (the epoch after which to re-weight)")
        self.ldam = LDAMLoss(counts, max_margin, scale) if kind == "ldam-drw" else None
        self.generator = make_generator(seed)
        # MAMix's m depends only on the class pair: a K × K table turns six ops per step into one.
        c = self.counts
        self.register_buffer("m_table", mamix_m(c[:, None], c[None, :], r).clamp(1e-12, 1 - 1e-12))
        self.register_buffer("weight", torch.ones(len(self.counts)))
        self.epoch = 0
        self._lam_pool, self._lam_used = torch.zeros(0), 0

    def _lambdas(self, n: int) -> torch.Tensor:
        """n draws of λ ~ Beta(α, α), taken from a pool drawn in blocks (one sampler call per
        65,536 values instead of one per step; the sequence is still fixed by the seed)."""
        if self._lam_used + n > len(self._lam_pool):
            self._lam_pool = sample_lambda(self.alpha, max(65536, n), self.generator)
            self._lam_used = 0
        lam = self._lam_pool[self._lam_used:self._lam_used + n]
        self._lam_used += n
        return lam

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.weight = drw_weights(self.counts.cpu(), epoch, self.drw_epoch, self.beta).to(self.counts.device)

    def forward(self, model: nn.Module, batch) -> dict:
        x, target = batch[0], batch[1]
        if self.ldam is not None:
            self.ldam.weight = self.weight
            return {"loss": self.ldam(model(x), target)}
        if self.rule is None:
            return {"loss": soft_cross_entropy(model(x), target, self.weight, self.loss_norm)}
        if target.ndim != 1:
            raise ValueError(f"strategy {self.kind!r} mixes hard-labelled batches; got soft targets")
        n = len(x)
        partner = random_partners(n, self.generator, permutation=True).to(x.device)  # Zhang et al.'s randperm
        lam = (self._lambdas(1).expand(n) if self.lam_per == "batch" else self._lambdas(n)).to(x.device)
        y_j = target[partner]
        if self.rule == "mamix":
            m = self.m_table[target, y_j]
            w = torch.where(lam <= 1 - m, lam / (2 * (1 - m)), 1 - (1 - lam) / (2 * m))
        else:
            w = _FAST_WEIGHTS[self.rule](lam, self.counts[target], self.counts[y_j], **self.rule_kw)
        lam_x = lam.to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
        x_mix = torch.lerp(x[partner], x, lam_x)  # λ·x_i + (1 − λ)·x_j: labkit.mix.mixup.mix, unchecked
        loss = _two_label_loss(model(x_mix), target, y_j, w, self.weight, self.loss_norm)
        return {"loss": loss, "label_weight": w.mean().detach(), "lam": lam.mean().detach()}
