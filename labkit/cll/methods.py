"""Every complementary-label learning method behind one contract: ``build_method(name, K, Q=...)``.

Each method is an ``nn.Module`` with ``.loss(logits, target)`` (batch mean) and ``.predict(logits)``.
``target`` is a long tensor (B,) of complementary labels, a long tensor (B, num_cl) of several distinct
ones, or a float tensor (B, K) of soft or multi-hot complementary targets t (Mixup and ICM). For a
soft target the loss is Σ_c t_c·𝓛(x, c) averaged over the batch, and a one-hot t gives exactly the hard
loss; for ``mcl-*`` a 0/1 target is the set Ȳ. Definitions: docs/reference.md §2.2-2.4 (libcll's, each
returning a batch mean). ``ce`` is ordinary cross-entropy on TRUE labels, the upper bound every table
compares with. Notation (docs/glossary.md): s = softmax(f), (sQ)_c = Σ_y s_y Q[y, c], ε = 1e-6.
:func:`register_method` adds a method of your own (a :class:`CLLMethod` subclass) under a name, so
that ``build_method`` and every experiment can use it. Taught in notebooks/01_complementary_labels.ipynb.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import function, integer, registry_name, weights
from .objective import CLLObjective  # re-exported: it lived here first
from .transitions import check_transition, to_multi_hot, transition_matrix

__all__ = ["CLLMethod", "CLLObjective", "build_method", "make_method", "register_method", "list_methods", "EPS"]

EPS = 1e-6


def _uniform(k: int) -> torch.Tensor:
    return transition_matrix("uniform", k)


class CLLMethod(nn.Module):
    """Base class: target checking, the soft-target rule, argmax prediction, and Q as a buffer.

    A per-example method implements ``per_label_loss(logits)`` → (B, K), the loss ℓ(x, c) the example
    would get if its complementary label were c; the base class gathers (hard) or weights (soft) it,
    so one-hot soft targets equal hard targets bit for bit. Batch-level methods (URE, SCARCE, MCL)
    override ``target_loss(logits, T)`` instead and receive hard labels as one-hot T.
    """

    name = "base"
    needs_q = False          # a Q must be given
    uses_q = False           # the given Q enters training (else it is only kept for reference)
    ordinary = False         # target = true labels (ce)

    def __init__(self, num_classes: int, Q=None, class_prior=None):
        super().__init__()
        self.num_classes = integer(num_classes, "num_classes", low=2)
        if Q is None and self.needs_q:
            raise ValueError(f"method {self.name!r} needs the transition matrix: pass Q=<K×K matrix>")
        q = check_transition(Q, self.num_classes) if Q is not None else _uniform(self.num_classes)
        self.register_buffer("Q", q)
        if class_prior is None:
            prior = torch.full((self.num_classes,), 1.0 / self.num_classes)
        else:
            prior = weights(class_prior, "class_prior", self.num_classes).float()
            prior = prior / prior.sum()
        self.register_buffer("class_prior", prior)

    # ---------------------------------------------------------------- the contract
    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Batch-mean loss; ``target``: (B,) or (B, num_cl) long labels, or (B, K) float soft/multi-hot."""
        z = self._check_logits(logits)
        hard, soft = self._check_target(target, z)
        return self.hard_loss(z, hard) if hard is not None else self.target_loss(z, soft)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.loss(logits, target)

    def predict(self, logits: torch.Tensor) -> torch.Tensor:
        """Predicted class: argmax f."""
        return logits.argmax(1)

    def cl_probabilities(self, logits: torch.Tensor, Q: torch.Tensor | None = None) -> torch.Tensor:
        """The model's estimate of P(ȳ | x): sQ, with ``Q`` (default: the method's own)."""
        q = self.Q if Q is None else torch.as_tensor(Q, dtype=torch.float32, device=logits.device)
        return logits.float().softmax(1) @ q

    # ------------------------------------------------------- what subclasses provide
    def per_label_loss(self, z: torch.Tensor) -> torch.Tensor:  # (B, K)
        raise NotImplementedError

    def hard_loss(self, z: torch.Tensor, cl: torch.Tensor) -> torch.Tensor:
        return self.per_label_loss(z).gather(1, cl[:, None]).squeeze(1).mean()

    def target_loss(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        L = self.per_label_loss(z)
        return torch.where(t != 0, t * L, torch.zeros((), device=z.device)).sum(1).mean()

    # ------------------------------------------------------------------ checking
    def _check_logits(self, logits) -> torch.Tensor:
        if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[1] != self.num_classes:
            shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise ValueError(f"logits must be a (B, {self.num_classes}) tensor, got {shape}")
        return logits.float()  # losses in float32 even under autocast

    def _check_target(self, target, z):
        if not isinstance(target, torch.Tensor):
            target = torch.as_tensor(target)
        b, k = z.shape
        if len(target) != b:
            raise ValueError(f"target has {len(target)} rows for a batch of {b} logits")
        if target.dtype.is_floating_point:
            if target.ndim != 2 or target.shape[1] != k:
                raise ValueError(f"a soft target must be a float tensor (B, {k}), got shape {tuple(target.shape)}")
            return None, _check_soft(target).to(z.device, torch.float32)
        if target.dtype == torch.bool or target.ndim not in (1, 2):
            raise ValueError(f"target must be long (B,) or (B, num_cl) labels or a float (B, {k}) soft target, "
                             f"got {target.dtype} of shape {tuple(target.shape)}")
        target = target.to(z.device).long()
        if target.numel() and (int(target.min()) < 0 or int(target.max()) >= k):
            raise ValueError(f"labels must lie in 0..{k - 1}, got range {int(target.min())}..{int(target.max())}")
        if target.ndim == 2:
            return None, to_multi_hot(target, k)
        return target, None

    def extra_repr(self) -> str:
        return f"{self.name!r}, num_classes={self.num_classes}"


def _check_soft(t: torch.Tensor) -> torch.Tensor:
    """A soft or multi-hot complementary target: finite, non-negative weights, no all-zero row."""
    if bool(torch.isfinite(t).all() & (t >= 0).all() & (t.sum(1) > 0).all()):  # one device sync per batch
        return t
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"a soft target must be finite: {int(torch.isnan(t).sum())} NaN and "
                         f"{int(torch.isinf(t).sum())} infinite entries")
    if bool((t < 0).any()):
        raise ValueError(f"a soft target's weights must be >= 0 (they weight the loss of each complementary "
                         f"label), got min {float(t.min()):.3g}")
    empty = torch.nonzero(t.sum(1) <= 0).flatten()
    if len(empty):
        raise ValueError(f"a soft target row must carry some weight; rows {empty[:5].tolist()} are empty (all zero) "
                         f"(every example needs at least one complementary label)")
    return t


class _BatchMethod(CLLMethod):
    """A method whose risk is not a sum of per-example terms: hard labels enter as one-hot T."""

    def hard_loss(self, z, cl):
        return self.target_loss(z, F.one_hot(cl, self.num_classes).float())


# =============================================================================== the methods

class CE(CLLMethod):
    """Ordinary cross-entropy on TRUE labels (the upper bound): ℓ(x, y) = −log s_y."""
    name, ordinary = "ce", True

    def per_label_loss(self, z):
        return -F.log_softmax(z, 1)


class PC(CLLMethod):
    """Pairwise comparison (Ishida et al., NeurIPS 2017; libcll's scale): Σ_{k≠ȳ} σ(f_ȳ − f_k)."""
    name = "pc"

    def per_label_loss(self, z):
        off = 1.0 - torch.eye(self.num_classes, device=z.device)
        return (torch.sigmoid(z[:, :, None] - z[:, None, :]) * off).sum(2)


class SCLNL(CLLMethod):
    """Surrogate complementary loss, negative learning (Chou et al., ICML 2020): −log(1 − s_ȳ + ε)."""
    name = "scl-nl"

    def per_label_loss(self, z):
        return -torch.log(1 - z.softmax(1) + EPS)


class SCLEXP(CLLMethod):
    """Surrogate complementary loss, exponential form (Chou et al., ICML 2020): exp(s_ȳ)."""
    name = "scl-exp"

    def per_label_loss(self, z):
        return torch.exp(z.softmax(1))


class FWD(CLLMethod):
    """Forward correction (Yu et al., ECCV 2018): −log((sQ)_ȳ + ε) with the given Q."""
    name, needs_q, uses_q = "fwd", True, True

    def per_label_loss(self, z):
        return -torch.log(z.softmax(1) @ self.Q + EPS)


class DM(CLLMethod):
    """Discriminative modelling with weighted loss (Gao & Zhang, IJCAI 2021).

    a = 1 − s, q = softmax(a) + ε; ℓ = −(1 + a_ȳ/(K − 1))·log q_ȳ (the weight is not detached).
    """
    name = "dm"

    def per_label_loss(self, z):
        a = 1 - z.softmax(1)
        q = a.softmax(1) + EPS
        return -(1 + a / (self.num_classes - 1)) * q.log()


class OP(CLLMethod):
    """Order-preserving loss, weighted form OP-W (Liu et al., 2023).

    u = softmax(−f), s = softmax(f), ψ = s ⊙ softmax(1 + 1/u) + ε; loss −ψ_ȳ·log u_ȳ.
    """
    name = "op"

    def per_label_loss(self, z):
        u = (-z).softmax(1)
        w = z.softmax(1) * (1 + 1 / (u + 1e-18)).softmax(1) + EPS
        return -w * F.log_softmax(-z, 1)


_PHI: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "mae": lambda p: 1 - p,
    "exp": lambda p: torch.exp(-p),
    "log": lambda p: -torch.log(p + EPS),
}


class MCL(_BatchMethod):
    """Multiple complementary labels (Feng et al., ICML 2020).

    For a set Ȳ: P̃ = Σ_{k∉Ȳ} s_k; ℓ = (2K − 2)/|Ȳ|·φ(P̃) with φ = 1 − P̃ (mae), e^(−P̃) (exp) or
    −log(P̃ + ε) (log). A 0/1 target is the set Ȳ; any other soft target t gives Σ_c t_c·ℓ({c}).
    """
    name = "mcl"

    def __init__(self, num_classes, Q=None, class_prior=None, *, phi: str = "log"):
        self.name = f"mcl-{phi}"
        super().__init__(num_classes, Q, class_prior)
        self.phi_name, self.phi = phi, _PHI[phi]

    def per_label_loss(self, z):
        """ℓ({c}) for a single complementary label c: (2K − 2)·φ(1 − s_c), shape (B, K)."""
        return (2 * self.num_classes - 2) * self.phi(1 - z.softmax(1))

    def target_loss(self, z, t):
        if not bool(((t == 0) | (t == 1)).all()):
            return super().target_loss(z, t)  # soft: Σ_c t_c·ℓ({c})
        size = t.sum(1)
        if bool((size == 0).any()):
            raise ValueError("an mcl target row is empty: every example needs at least one complementary label")
        p_rest = (z.softmax(1) * (1 - t)).sum(1)
        return ((2 * self.num_classes - 2) / size * self.phi(p_rest)).mean()


class URE(_BatchMethod):
    """Unbiased risk estimator with a non-negative (NN) or gradient-ascent (GA) correction
    (Ishida et al., ICML 2019; the T-variants use the given Q, Feng et al. 2020).

    ℓ̄(x, ȳ) = Σ_k Q⁻¹[ȳ, k]·(−log s_k) (Q⁻¹: pseudo-inverse if singular); E_{ȳ|y} ℓ̄(x, ȳ) = −log s_y.
    With Ē_c the mean over the batch's examples whose CL is c (t_ic-weighted for soft targets) and
    π̄ = πQ the CL prior, the partial risk per CLASS k (default) is
    R_k = Σ_c π̄_c·Ē_c[Q⁻¹[c, k]·(−log s_k(x))], whose expectation π_k·E[−log s_k | y = k] is ≥ 0;
    ``ure_grouping="label"`` gives libcll's per-CL-group R′_c = π̄_c·Ē_c[ℓ̄(x, c)] (same total, but a
    group can be strongly negative even for a perfect model).
    NN: Σ_k max(R_k, 0). GA: Σ_k R_k if min_k R_k ≥ 0, else descend on −Σ_{R_k<0} R_k.
    ``ure-nn``/``ure-ga`` force Q uniform; ``ure-tnn``/``ure-tga`` use the given Q.
    """

    def __init__(self, num_classes, Q=None, class_prior=None, *, correction: str = "nn",
                 use_q: bool = False, ure_grouping: str = "class"):
        if ure_grouping not in ("class", "label"):
            raise ValueError(f"ure_grouping must be 'class' (Ishida et al.) or 'label' (libcll), got {ure_grouping!r}")
        self.needs_q = self.uses_q = use_q
        self.name = f"ure-{'t' if use_q else ''}{correction}"
        super().__init__(num_classes, Q if use_q else None, class_prior)
        self.correction, self.grouping = correction, ure_grouping
        q = self.Q.double()
        qinv = torch.linalg.inv(q) if torch.linalg.matrix_rank(q) == num_classes else torch.linalg.pinv(q)
        self.register_buffer("Qinv", qinv.float())
        self.register_buffer("cl_prior", self.class_prior @ self.Q)

    def unbiased_losses(self, logits: torch.Tensor) -> torch.Tensor:
        """ℓ̄(x, j) for every j, shape (B, K)."""
        return -F.log_softmax(logits.float(), 1) @ self.Qinv.T

    def partial_risks(self, logits: torch.Tensor, target) -> torch.Tensor:
        """The K partial risks (per class or per CL group, see the class docstring); they sum to the URE."""
        z = self._check_logits(logits)
        hard, t = self._check_target(target, z)
        t = F.one_hot(hard, self.num_classes).float() if hard is not None else t
        return self._risks(z, t)

    def _risks(self, z, t):
        # Each CL group j is averaged and weighted by its prior π̄_j = (πQ)_j, as in Ishida et al.'s
        # code and libcll; weighting by the batch's own group sizes would make every partial risk
        # as noisy as the batch composition and drive GA into ascent at every step.
        n = t.sum(0)
        a = t * torch.where(n > 0, self.cl_prior / n.clamp_min(1e-12), torch.zeros((), device=z.device))
        L = -F.log_softmax(z, 1)
        if self.grouping == "class":
            return ((a @ self.Qinv) * L).sum(0)
        return (a * (L @ self.Qinv.T)).sum(0)

    def target_loss(self, z, t):
        r = self._risks(z, t)
        if self.correction == "nn":
            return r.clamp_min(0).sum()
        neg = r.clamp_max(0).sum()
        return torch.where(neg < 0, -neg, r.sum())


class SCARCE(_BatchMethod):
    """SCARCE (Wang et al., ICML 2024): a one-vs-rest risk under the selected-completely-at-random
    assumption, with the logistic loss ℓ(g, ±1) = −log σ(±g) as in libcll.

    With π_k the class prior (default 1/K), Ē_k the mean over examples whose CL is k and E the
    batch mean: R = Σ_k (1 − π_k)·Ē_k[ℓ(g_k, −1)] + Σ_k |E[ℓ(g_k, +1)] − (1 − π_k)·Ē_k[ℓ(g_k, +1)]|
    (the absolute value is the correction of the possibly negative positive-class risk).
    """
    name = "scarce"

    def target_loss(self, z, t):
        n = t.sum(0)
        n = torch.where(n > 0, n, torch.ones((), device=z.device))
        pos, neg = F.softplus(-z), F.softplus(z)           # −log σ(g), −log σ(−g)
        ccp = 1 - self.class_prior
        neg_risk = (ccp * (t * neg).sum(0) / n).sum()
        pos_risk = (pos.mean(0) - ccp * (t * pos).sum(0) / n).abs().sum()
        return neg_risk + pos_risk


class CPE(CLLMethod):
    """Complementary probability estimates (Lin & Lin, PAKDD 2023).

    Training: ℓ = −log v_ȳ with v = s (cpe-i), v = sQ + ε (cpe-f, same loss as fwd) or
    v = sQ_θ + ε (cpe-t, Q_θ = row-softmax(Θ) learned, Θ initialised at log Q). Prediction decodes
    by L1 distance: argmin_k ‖v − Q[k]‖₁ (cpe-t compares with the rows of Q_θ; cpe-i uses the given Q,
    uniform if none).
    """

    def __init__(self, num_classes, Q=None, class_prior=None, *, kind: str = "f"):
        self.needs_q = self.uses_q = kind in ("f", "t")
        self.kind, self.name = kind, f"cpe-{kind}"
        super().__init__(num_classes, Q, class_prior)
        if kind == "t":
            self.theta = nn.Parameter(self.Q.clamp_min(EPS).log())

    def transition(self) -> torch.Tensor:
        """The matrix the decoding compares with: Q, or Q_θ = row-softmax(Θ) for cpe-t."""
        return self.theta.softmax(1) if self.kind == "t" else self.Q

    def cl_probabilities(self, logits, Q=None):
        s = logits.float().softmax(1)
        return s if self.kind == "i" else s @ self.transition() + EPS

    def per_label_loss(self, z):
        if self.kind == "i":
            return -F.log_softmax(z, 1)
        return -torch.log(self.cl_probabilities(z))

    def predict(self, logits):
        v = self.cl_probabilities(logits)
        return torch.cdist(v, self.transition().to(v.dtype), p=1).argmin(1)


# ============================================================================== registry

_REGISTRY: dict[str, Callable[..., CLLMethod]] = {
    "pc": PC,
    "scl-nl": SCLNL,
    "scl-exp": SCLEXP,
    "fwd": FWD,
    "ure-nn": lambda k, Q, p, **o: URE(k, Q, p, correction="nn", **o),
    "ure-ga": lambda k, Q, p, **o: URE(k, Q, p, correction="ga", **o),
    "ure-tnn": lambda k, Q, p, **o: URE(k, Q, p, correction="nn", use_q=True, **o),
    "ure-tga": lambda k, Q, p, **o: URE(k, Q, p, correction="ga", use_q=True, **o),
    "dm": DM,
    "mcl-mae": lambda k, Q, p, **o: MCL(k, Q, p, phi="mae", **o),
    "mcl-exp": lambda k, Q, p, **o: MCL(k, Q, p, phi="exp", **o),
    "mcl-log": lambda k, Q, p, **o: MCL(k, Q, p, phi="log", **o),
    "op": OP,
    "scarce": SCARCE,
    "cpe-i": lambda k, Q, p, **o: CPE(k, Q, p, kind="i", **o),
    "cpe-f": lambda k, Q, p, **o: CPE(k, Q, p, kind="f", **o),
    "cpe-t": lambda k, Q, p, **o: CPE(k, Q, p, kind="t", **o),
    "ce": CE,
}
_OPTIONS = {"ure_grouping": ("ure-nn", "ure-ga", "ure-tnn", "ure-tga")}
_BUILTIN = dict(_REGISTRY)


def list_methods() -> list[str]:
    """Names accepted by :func:`build_method`: the built-in methods (``ce`` trains on ordinary
    labels), then those added with :func:`register_method`."""
    return list(_REGISTRY)


def register_method(name: str, cls_or_builder: Callable[..., CLLMethod], *, overwrite: bool = False) -> None:
    """Add a CLL method under ``name`` (lower-case, hyphenated) for :func:`build_method`, :func:`list_methods`
    and every experiment. ``cls_or_builder(num_classes, Q, class_prior, **options)`` returns a CLLMethod:
    a subclass implements ``per_label_loss(logits) -> (B, K)``, the loss ℓ(x, c) of each candidate
    complementary label c (SCL-NL: −log(1 − s_c)). A taken name raises ValueError unless ``overwrite``.
    """
    registry_name(name, "method", _REGISTRY, overwrite=overwrite)
    _REGISTRY[name] = function(cls_or_builder, "cls_or_builder",
                               note="a CLLMethod subclass or a function (num_classes, Q, class_prior, **options)")


def build_method(name: str, num_classes: int, *, Q=None, class_prior=None, **opts) -> CLLMethod:
    """Build a CLL method from its registry name: ``build_method("fwd", 10, Q=Q)``.

    ``Q``: the transition matrix the labels came from (required by fwd, ure-t*, cpe-f, cpe-t; kept
    but unused by the others; ure-nn/ure-ga force it uniform). ``class_prior``: the class prior π
    (SCARCE; default uniform). Options: ``ure_grouping="class"|"label"`` for the URE methods; a
    registered method takes those of its builder. Definitions and sources: this module's docstring.
    """
    if not isinstance(name, str) or name.lower() not in _REGISTRY:
        raise ValueError(f"unknown method {name!r}; valid names: {', '.join(_REGISTRY)}")
    name, builder = name.lower(), _REGISTRY[name.lower()]
    for key in opts if builder is _BUILTIN.get(name) else ():  # a registered builder checks its own
        if key not in _OPTIONS or name not in _OPTIONS[key]:
            allowed = [k for k, names in _OPTIONS.items() if name in names]
            raise ValueError(f"method {name!r} takes no option {key!r}; its options: {allowed or 'none'}")
    try:
        method = builder(num_classes, Q, class_prior, **opts)
    except TypeError as exc:
        if "unexpected keyword" not in str(exc):
            raise
        raise ValueError(f"method {name!r} does not take these options: {exc}") from None
    if not isinstance(method, CLLMethod):
        raise ValueError(f"the builder registered as {name!r} returned {type(method).__name__}, not a CLLMethod")
    if method.name == CLLMethod.name:  # a subclass that did not name itself
        method.name = name
    return method


#: Former name of :func:`build_method`, kept so existing code runs.
make_method = build_method
