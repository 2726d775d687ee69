"""Implement it yourself, then check it: each checker runs your function against the package's own
implementation on seeded random inputs and edge cases, and says what is wrong.

    from labkit import check
    print(check.STUBS["scl-nl"])          # the stub to copy into a cell
    check.check_scl_nl(scl_nl_loss)       # ✓ scl-nl: passed 31 checks   (or what failed, and where)
    check.implementation("fwd", fwd_loss) # the same by name; check.list_checks() lists the names

A report names the problem: a stub still raising NotImplementedError ("not implemented yet"), an
exception, a wrong shape, NaN or an infinite value, a wrong value (with the input, the expected and
the received value), or a wrong gradient (torch.autograd), plus a hint when the output matches a
common mistake. Nothing is raised unless ``strict=True`` (then :class:`CheckFailed`, an
AssertionError, for autograding); the result is a :class:`CheckResult` (``bool(r)`` = passed).
``reference(name)`` gives the package's answer with the stub's signature. Like nbgrader's
autograder tests, with no server. The formulas are in docs/reference.md.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..cll import EPS, build_method, transition_matrix
from ..cll.transitions import sample_complementary
from ..clip.losses import soft_clip_loss as _soft_clip
from ..mix.icm import intra_cluster_partners as _icm_partners
from ..mix.margin import mamix_m
from ..mix.margin import mamix_weight as _mamix
from ..mix.noise import expected_pair_noise as _expected_noise
from ..mix.noise import pair_noise as _pair_noise
from ._runner import NOT_IMPLEMENTED, Case, CheckFailed, CheckResult, compare
from ._runner import call as _call
from ._runner import _NotImplemented
from .stubs import STUBS

__all__ = ["check_scl_nl", "check_fwd", "check_pair_noise_rate", "check_expected_pair_noise",
           "check_intra_cluster_partners", "check_mamix_weight", "check_soft_clip_loss", "implementation",
           "list_checks", "reference", "stub", "STUBS", "CheckResult", "CheckFailed"]


def _g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _finish(result: CheckResult, verbose: bool, strict: bool) -> CheckResult:
    if verbose:
        print(result)
        result._printed = True
    if strict and not result.passed:
        raise CheckFailed(str(result))
    return result


# ------------------------------------------------------------------------ the package's answers

def _ref_scl_nl(logits, cl):
    return build_method("scl-nl", logits.shape[1]).loss(logits, cl)


def _ref_fwd(logits, cl, Q):
    return build_method("fwd", logits.shape[1], Q=Q).loss(logits, cl)


def _ref_mamix(lam, n_i, n_j, r=-0.25):
    return _mamix(lam, n_i, n_j, r)


def _ref_soft_clip(image_emb, text_emb, temperature=1.0):
    return _soft_clip(image_emb, text_emb, temperature, normalize=False)


_REFERENCES: dict[str, Callable] = {
    "scl-nl": _ref_scl_nl, "fwd": _ref_fwd, "pair-noise-rate": _pair_noise,
    "expected-pair-noise": _expected_noise, "intra-cluster-partners": _icm_partners,
    "mamix-weight": _ref_mamix, "soft-clip-loss": _ref_soft_clip}


# -------------------------------------------------------------------------------- CLL losses

def _logit_cases(seed: int, extra=None):
    """Edge cases first (small, shown in full), then seeded random batches."""
    cases = [Case("a confident prediction on the complementary class (s_cl -> 1)",
                  {"logits": torch.tensor([[30.0, 0.0, 0.0], [0.0, 1.0, -1.0]]), "cl": torch.tensor([0, 2])},
                  ("logits",)),
             Case("two classes, batch of one", {"logits": torch.tensor([[0.3, -0.2]]), "cl": torch.tensor([1])},
                  ("logits",))]
    for i, (b, k) in enumerate([(4, 3), (16, 10), (64, 10), (32, 20)]):
        g = _g(seed + i)
        cases.append(Case(f"a random batch B={b}, K={k} (seed {seed + i})",
                          {"logits": 3 * torch.randn(b, k, generator=g), "cl": torch.randint(k, (b,), generator=g)},
                          ("logits",)))
    return [extra(c) for c in cases] if extra else cases


_CE_ON_CL = "-log(s_cl) is cross-entropy on the complementary label, which pushes s_cl UP; SCL-NL pushes it down: -log(1 - s_cl + eps)"


def check_scl_nl(fn: Callable, *, verbose: bool = True, strict: bool = False) -> CheckResult:
    """Check ``fn(logits, cl) -> scalar`` against ``build_method("scl-nl", K).loss``."""
    mistakes = [
        (lambda z, c: -torch.log(1 - z.softmax(1).gather(1, c[:, None]).squeeze(1)).mean(),
         "no eps: -log(1 - s_cl) is infinite when s_cl rounds to 1; write -log(1 - s_cl + eps), eps = 1e-6"),
        (lambda z, c: -torch.log(z.softmax(1).gather(1, c[:, None]).squeeze(1) + EPS).mean(), _CE_ON_CL),
        (lambda z, c: -torch.log(1 - z.softmax(0).gather(1, c[:, None]).squeeze(1) + EPS).mean(),
         "softmax over the batch (dim 0): the probabilities s are over the K classes, softmax(logits, dim=1)"),
        (lambda z, c: -torch.log(1 - z.gather(1, c[:, None]).squeeze(1) + EPS).mean(),
         "the logits are not probabilities: apply softmax first")]
    return _finish(compare("scl-nl", fn, _ref_scl_nl, _logit_cases(0), mistakes=mistakes), verbose, strict)


def _with_q(case: Case) -> Case:
    k = case.args["logits"].shape[1]
    q = transition_matrix("biased", k) if k < 4 else transition_matrix("strong", k, seed=k)
    return Case(case.label + f", Q {'biased' if k < 4 else 'strong'}", {**case.args, "Q": q}, case.grad)


def check_fwd(fn: Callable, *, verbose: bool = True, strict: bool = False) -> CheckResult:
    """Check ``fn(logits, cl, Q) -> scalar`` against ``build_method("fwd", K, Q=Q).loss`` (non-symmetric Q)."""
    def pick(v, c):
        return v.gather(1, c[:, None]).squeeze(1)
    mistakes = [
        (lambda z, c, q: -torch.log(pick(z.softmax(1) @ q.T, c) + EPS).mean(),
         "Q is transposed: (sQ)_c = sum_y s_y Q[y, c] (rows of Q are true classes), i.e. s @ Q, not s @ Q.T"),
        (lambda z, c, q: -torch.log(pick(z.softmax(1) @ q, c)).mean(),
         "no eps: (sQ)_cl can be 0 (Q has zeros), write -log((sQ)_cl + eps), eps = 1e-6"),
        (lambda z, c, q: -torch.log(1 - pick(z.softmax(1) @ q, c) + EPS).mean(),
         "(sQ)_cl already is the probability of the complementary label: -log((sQ)_cl + eps), no 1 -"),
        (lambda z, c, q: -torch.log(1 - pick(z.softmax(1), c) + EPS).mean(),
         "Q is ignored: this is SCL-NL; forward correction maps s through Q first"),
        (lambda z, c, q: -torch.log(pick(z @ q, c) + EPS).mean(), "apply softmax to the logits before Q")]
    cases = _logit_cases(10, _with_q)
    return _finish(compare("fwd", fn, _ref_fwd, cases, mistakes=mistakes), verbose, strict)


# ---------------------------------------------------------------------------- Mixup's noise

def _noise_cases():
    cases = [Case("only cl[j] == y[i] is noisy (the second direction)",
                  {"y": torch.tensor([0, 1, 2, 3]), "cl": torch.tensor([2, 0, 0, 1]), "partner": torch.tensor([1, 0, 3, 2])}),
             Case("examples 2 and 3 are their own partners (unmixed)",
                  {"y": torch.tensor([0, 1, 2, 3]), "cl": torch.tensor([1, 2, 0, 0]), "partner": torch.tensor([1, 0, 2, 3])}),
             Case("nobody is mixed", {"y": torch.tensor([0, 1]), "cl": torch.tensor([1, 0]), "partner": torch.tensor([0, 1])})]
    for i, (b, k) in enumerate([(10, 3), (200, 10), (500, 4)]):
        g = _g(20 + i)
        y = torch.randint(k, (b,), generator=g)
        cl = sample_complementary(y, transition_matrix("uniform", k), seed=g)
        partner = torch.randperm(b, generator=g)  # a permutation leaves about one example unmixed
        cases.append(Case(f"random labels B={b}, K={k}, permutation partners (seed {20 + i})",
                          {"y": y, "cl": cl, "partner": partner}))
    return cases


def check_pair_noise_rate(fn: Callable, *, verbose: bool = True, strict: bool = False) -> CheckResult:
    """Check ``fn(y, cl, partner) -> float`` against :func:`labkit.mix.noise.pair_noise`."""
    def noisy(y, c, p, both=True):
        hit = c == y[p]
        return hit | (c[p] == y) if both else hit

    mistakes = [
        (lambda y, c, p: noisy(y, c, p, False)[p != torch.arange(len(y))].double().mean(),
         "only one direction: a pair is noisy when cl[i] == y[j] OR cl[j] == y[i]"),
        (lambda y, c, p: noisy(y, c, p).double().mean(),
         "unmixed examples (partner[i] == i) are counted: average over the mixed examples only"),
        (lambda y, c, p: ((c == y[p]) & (c[p] == y))[p != torch.arange(len(y))].double().mean(),
         "AND instead of OR: one contradicted label is enough to make a pair noisy")]
    return _finish(compare("pair-noise-rate", fn, _pair_noise, _noise_cases(), mistakes=mistakes, atol=1e-9),
                   verbose, strict)


def check_expected_pair_noise(fn: Callable, *, verbose: bool = True, strict: bool = False) -> CheckResult:
    """Check ``fn(Q, prior) -> float`` against :func:`labkit.mix.noise.expected_pair_noise`."""
    def even(k):
        return torch.full((k,), 1.0 / k)
    skew = torch.tensor([0.4, 0.3, 0.2, 0.1])
    cases = [Case("uniform Q, K=3, balanced", {"Q": transition_matrix("uniform", 3), "prior": even(3)}),
             Case("uniform Q, K=10, balanced", {"Q": transition_matrix("uniform", 10), "prior": even(10)}),
             Case("biased Q, K=4, skewed prior", {"Q": transition_matrix("biased", 4), "prior": skew}),
             Case("strong Q, K=10, balanced", {"Q": transition_matrix("strong", 10, seed=1), "prior": even(10)}),
             Case("noisy Q (the true class can be drawn), K=4, skewed prior",
                  {"Q": transition_matrix("noisy", 4, seed=2, noise=0.5), "prior": skew})]

    def off(q):
        return q * (1 - torch.eye(len(q)))
    mistakes = [
        (lambda q, p: float(p @ (q + q.T) @ p), "the event 'cl_a == b or cl_b == a' is counted twice when both "
         "happen: P(A or B) = P(A) + P(B) - P(A and B), subtract Q[a,b]·Q[b,a]"),
        (lambda q, p: float(p @ (off(q) + off(q).T - off(q) * off(q).T) @ p),
         "the a == b terms are dropped: they vanish only when Q has a zero diagonal (not for 'noisy' Q)"),
        (lambda q, p: (2 * len(q) - 3) / (len(q) * (len(q) - 1)),
         "this is the uniform, balanced special case: use Q and the prior")]
    return _finish(compare("expected-pair-noise", fn, _expected_noise, cases, mistakes=mistakes, atol=1e-6),
                   verbose, strict)


# --------------------------------------------------------------------- intra-cluster partners

def check_intra_cluster_partners(fn: Callable, *, verbose: bool = True, strict: bool = False) -> CheckResult:
    """Check ``fn(cluster_ids, generator) -> (B,) long``: partners are random, so the checks are the
    law's properties: shape and type, same cluster, never oneself unless alone, the same seed gives
    the same partners, every cluster-mate is chosen about equally often, and the partners vary."""
    result = CheckResult("intra-cluster-partners")
    ids = torch.tensor([3, 1, 3, 0, 1, 3, 7, 3, 1, 2, 2])  # cluster 0 and 7 are singletons
    perm = torch.randperm(600, generator=_g(30))
    cases = [Case("a small batch with two singleton clusters", {"cluster_ids": ids, "generator": 0}),
             Case("one cluster", {"cluster_ids": torch.zeros(5, dtype=torch.long), "generator": 1}),
             Case("600 examples in clusters of 4 (shuffled)", {"cluster_ids": (perm // 4), "generator": 2})]
    try:
        for case in cases:
            _partner_case(result, fn, case)
        if result.passed:  # the law only means something for partners that obey the rules
            _partner_law(result, fn, cases[2])
    except _NotImplemented:
        result.failures.insert(0, NOT_IMPLEMENTED)
        result.kinds.insert(0, NOT_IMPLEMENTED)
        result.checks += 1
    return _finish(result, verbose, strict)


def _draw(result, fn, case, seed):
    out = _call(result, fn, Case(case.label, {"cluster_ids": case.args["cluster_ids"], "generator": _g(seed)}))
    if out is None:
        return None
    p = out[0]
    b = len(case.args["cluster_ids"])
    where = f"on {case.label}: cluster_ids={case.args['cluster_ids'].tolist() if b <= 12 else f'({b},)'}"
    if not isinstance(p, torch.Tensor) or p.shape != (b,) or p.is_floating_point():
        what = f"{p.dtype} of shape {tuple(p.shape)}" if isinstance(p, torch.Tensor) else type(p).__name__
        result.fail(f"expected a long tensor of shape ({b},), got {what}\n  {where}")
        return None
    if bool(((p < 0) | (p >= b)).any()):
        result.fail(f"partner indices must lie in 0..{b - 1}, got {p.min().item()}..{p.max().item()}\n  {where}")
        return None
    result.ok()
    return p.long()


def _partner_case(result, fn, case):
    p = _draw(result, fn, case, 100)
    if p is None:
        return
    ids = case.args["cluster_ids"]
    b, me = len(ids), torch.arange(len(ids))
    alone = (ids[:, None] == ids[None, :]).sum(1) == 1
    for bad, text in [(ids[p] != ids, "has a partner from ANOTHER cluster: draw among the same cluster id"),
                      ((p == me) & ~alone, "is its own partner although it has cluster-mates: draw among the OTHER members"),
                      ((p != me) & alone, "is alone in its cluster and should be its own partner (unmixed)")]:
        if bool(bad.any()):
            i = int(torch.nonzero(bad)[0])
            result.fail(f"example {i} (cluster {int(ids[i])}) {text}; got partner {int(p[i])}\n  on {case.label}"
                        + (f": cluster_ids={ids.tolist()}, partners={p.tolist()}" if b <= 12 else ""))
            return
        result.ok()
    again = _draw(result, fn, case, 100)
    if again is not None:
        if torch.equal(p, again):
            result.ok()
        else:
            result.fail(f"two calls with generators seeded alike gave different partners: draw every random "
                        f"number from `generator`\n  on {case.label}")


def _partner_law(result, fn, case):
    """Pooled over 40 seeds: the chosen mate's rank among the 3 others is uniform, and partners vary."""
    ids = case.args["cluster_ids"]
    draws = [_draw(result, fn, case, 1000 + s) for s in range(40)]
    if any(d is None for d in draws):
        return
    d = torch.stack(draws)                                      # (40, B)
    mates = [torch.nonzero((ids == ids[i]) & (torch.arange(len(ids)) != i)).flatten() for i in range(len(ids))]
    rank = torch.stack([(d[:, i:i + 1] == mates[i][None, :]).float().argmax(1) for i in range(len(ids))])
    share = torch.bincount(rank.flatten(), minlength=3).double() / rank.numel()
    if bool(((share - 1 / 3).abs() > 0.03).any()):
        result.fail(f"not uniform among the cluster-mates: with 3 mates each should be chosen 1/3 of the time, "
                    f"got shares {[round(float(s), 3) for s in share]} (by the mate's position in the batch, "
                    f"pooled over 40 seeds)\n  on {case.label}")
    else:
        result.ok()
    if bool((d == d[:1]).all()):
        result.fail(f"every seed gave the same partners: draw them at random (from `generator`)\n  on {case.label}")
    else:
        result.ok()


# -------------------------------------------------------------------------------------- MAMix

def check_mamix_weight(fn: Callable, *, verbose: bool = True, strict: bool = False) -> CheckResult:
    """Check ``fn(lam, n_i, n_j, r=-0.25) -> w`` (element-wise) against :func:`labkit.mix.margin.mamix_weight`."""
    m = float(mamix_m(5000.0, 50.0))  # 0.2403: the kink of the first two cases sits at 1 - m
    grid = torch.tensor([0.0, 0.1, 0.5, 1 - m, 0.9, 1.0])
    g = _g(40)
    n = torch.randint(1, 5000, (2, 200), generator=g).float()
    cases = [Case("head sample (n_i = 5000) with a tail partner (n_j = 50)",
                  {"lam": grid, "n_i": torch.full((6,), 5000.0), "n_j": torch.full((6,), 50.0), "r": -0.25}),
             Case("tail sample (n_i = 50) with a head partner (n_j = 5000)",
                  {"lam": grid, "n_i": torch.full((6,), 50.0), "n_j": torch.full((6,), 5000.0), "r": -0.25}),
             Case("equal counts (MAMix = Mixup)", {"lam": grid, "n_i": torch.full((6,), 80.0),
                                                   "n_j": torch.full((6,), 80.0), "r": -0.25}),
             Case("r = 0 (MAMix = Mixup)", {"lam": grid, "n_i": torch.full((6,), 900.0),
                                            "n_j": torch.full((6,), 9.0), "r": 0.0}),
             Case("random counts and lam (seed 40)", {"lam": torch.rand(200, generator=g), "n_i": n[0],
                                                      "n_j": n[1], "r": -0.25})]

    def mm(ni, nj, r):
        return ni ** r / (ni ** r + nj ** r)
    mistakes = [
        (lambda lam, ni, nj, r: _mamix(lam, nj, ni, r), "m for the wrong class: m = n_i^r / (n_i^r + n_j^r) "
         "with n_i the count of the sample's OWN label y_i and r = -1/4; the kink sits at lam = 1 - m"),
        (lambda lam, ni, nj, r: torch.where(lam <= mm(ni, nj, r), lam / (2 * mm(ni, nj, r)),
                                            1 - (1 - lam) / (2 * (1 - mm(ni, nj, r)))),
         "the kink is at lam = 1 - m (w = 1/2 there), not at lam = m"),
        (lambda lam, ni, nj, r: lam.clone(), "this is Mixup's w = lam: MAMix bends it at (1 - m, 1/2)")]
    return _finish(compare("mamix-weight", fn, _ref_mamix, cases, mistakes=mistakes, elementwise=True),
                   verbose, strict)


# ---------------------------------------------------------------------------------- soft CLIP

def check_soft_clip_loss(fn: Callable, *, verbose: bool = True, strict: bool = False) -> CheckResult:
    """Check ``fn(image_emb, text_emb, temperature) -> scalar`` and its gradient against
    :func:`labkit.clip.losses.soft_clip_loss` (``normalize=False``: the formula on the given embeddings)."""
    cases = [Case("a batch of one", {"image_emb": torch.tensor([[0.6, 0.8]]), "text_emb": torch.tensor([[1.0, 0.0]]),
                                     "temperature": 1.0}, ("image_emb", "text_emb")),
             Case("two identical reports", {"image_emb": torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]),
                                            "text_emb": torch.tensor([[0.8, 0.6], [0.8, 0.6], [0.0, 1.0]]),
                                            "temperature": 0.5}, ("image_emb", "text_emb"))]
    for i, (b, d, tau) in enumerate([(6, 4, 1.0), (16, 8, 0.2), (32, 16, 2.0)]):
        g = _g(50 + i)
        cases.append(Case(f"random embeddings B={b}, D={d}, temperature {tau} (seed {50 + i})",
                          {"image_emb": 1.5 * torch.randn(b, d, generator=g), "text_emb": 1.5 * torch.randn(b, d, generator=g),
                           "temperature": tau}, ("image_emb", "text_emb")))

    def variant(i, t, tau, axis=-1, divide=False, transpose=False, norm=False):
        if norm:
            i, t = F.normalize(i, dim=-1), F.normalize(t, dim=-1)
        logits = (i @ t.T if transpose else t @ i.T) / tau
        sim = (i @ i.T + t @ t.T) / 2
        y = F.softmax(sim / tau if divide else sim * tau, dim=axis)
        ce = -(y * F.log_softmax(logits, -1)).sum(-1) - (y.T * F.log_softmax(logits.T, -1)).sum(-1)
        return (ce / 2).mean()
    mistakes = [
        (lambda i, t, tau: variant(i, t, tau, axis=0), "targets normalised over the wrong axis: 𝒯 is a "
         "softmax over each ROW (dim=-1), not over each column"),
        (lambda i, t, tau: variant(i, t, tau, divide=True), "the temperature MULTIPLIES the similarities in "
         "the targets (a quirk of the original), while it divides the logits"),
        (lambda i, t, tau: variant(i, t, tau, transpose=True), "logits transposed: P = Ŷ X̂ᵀ / temperature "
         "(row i: text i against every image)"),
        (lambda i, t, tau: variant(i, t, tau, norm=True), "the embeddings were normalised: use them as given")]
    grad_hint = "are the targets 𝒯 detached? In this loss the gradient flows through them too"
    return _finish(compare("soft-clip-loss", fn, _ref_soft_clip, cases, mistakes=mistakes, grad_hint=grad_hint),
                   verbose, strict)


# ------------------------------------------------------------------------------- by name

_CHECKS: dict[str, Callable[..., CheckResult]] = {
    "scl-nl": check_scl_nl, "fwd": check_fwd, "pair-noise-rate": check_pair_noise_rate,
    "expected-pair-noise": check_expected_pair_noise, "intra-cluster-partners": check_intra_cluster_partners,
    "mamix-weight": check_mamix_weight, "soft-clip-loss": check_soft_clip_loss}


def list_checks() -> list[str]:
    """The names accepted by :func:`implementation`, :func:`reference`, :func:`stub` and ``STUBS``."""
    return list(_CHECKS)


def _name(name) -> str:
    if not isinstance(name, str) or name not in _CHECKS:
        raise ValueError(f"unknown check {name!r}; valid names: {', '.join(_CHECKS)}")
    return name


def implementation(name: str, fn: Callable, *, verbose: bool = True, strict: bool = False) -> CheckResult:
    """Run the checker called ``name`` on ``fn``: ``check.implementation("scl-nl", scl_nl_loss)``."""
    return _CHECKS[_name(name)](fn, verbose=verbose, strict=strict)


def reference(name: str) -> Callable:
    """The package's implementation with the stub's signature (it passes its own check)."""
    return _REFERENCES[_name(name)]


def stub(name: str) -> Callable:
    """The stub of ``STUBS[name]`` as a function (it raises NotImplementedError)."""
    space: dict = {"torch": torch}
    exec(STUBS[_name(name)], space)  # noqa: S102 - our own text
    return next(v for k, v in space.items() if callable(v) and k != "torch")

