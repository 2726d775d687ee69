"""Property-based tests (hypothesis): for random K, Q and labels the invariants the maths promises.

Bounded example counts and ``deadline=None`` keep the whole file to a few seconds on 2 CPU cores.
"""
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.cll import build_method, list_methods, sample_complementary, transition_matrix
from labkit.data import long_tail_counts

FAST = settings(max_examples=20, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SEEDS = st.integers(0, 2**31 - 1)


@st.composite
def families(draw):
    """A Q family with its parameters and a K it accepts."""
    kind = draw(st.sampled_from(["uniform", "weak", "strong", "noisy", "dirichlet", "biased"]))
    k = draw(st.integers(4 if kind in ("weak", "strong", "noisy") else 2, 12))
    params = dict(seed=draw(SEEDS), noise=draw(st.floats(0, 1)), concentration=draw(st.floats(0.05, 50)),
                  rho=draw(st.floats(1e-3, 1e6)))
    return kind, k, params


@FAST
@given(families())
def test_transition_rows_are_distributions(family):
    kind, k, params = family
    q = transition_matrix(kind, k, **params)
    assert q.shape == (k, k) and torch.isfinite(q).all() and (q >= 0).all()
    assert torch.allclose(q.sum(1), torch.ones(k), atol=1e-5)
    if kind != "noisy":  # every other family never names the true class
        assert float(q.diagonal().abs().max()) == 0.0


@FAST
@given(families(), SEEDS, st.integers(1, 60), st.integers(0, 3))
def test_sampling_never_yields_the_true_label_when_the_diagonal_is_zero(family, seed, n, num_cl):
    kind, k, params = family
    if kind == "noisy":
        kind = "strong"
    q = transition_matrix(kind, k, **params)
    num_cl = min(num_cl, k - 1)
    if num_cl > 0:  # several distinct labels need that many positive entries per row
        num_cl = min(num_cl, int((q > 0).sum(1).min()))
    if num_cl == 0 and int((q > 0).sum(1).min()) < k - 1:
        num_cl = 1
    y = torch.randint(0, k, (n,), generator=torch.Generator().manual_seed(seed))
    cl = sample_complementary(y, q, num_cl=num_cl, seed=seed)
    hot = cl if num_cl == 0 else torch.zeros(n, k).scatter_(1, cl.view(n, -1), 1.0)
    assert not bool(hot[torch.arange(n), y].any())            # never the true label
    assert bool((q[y] > 0)[hot.bool()].all())                   # only labels Q allows
    if num_cl == 0:
        assert bool((hot.sum(1) >= 1).all())


@st.composite
def batches(draw):
    k = draw(st.integers(2, 8))
    b = draw(st.integers(1, 6))
    seed = draw(SEEDS)
    g = torch.Generator().manual_seed(seed)
    scale = draw(st.floats(0.1, 20))
    logits = torch.randn(b, k, generator=g) * scale
    cl = torch.randint(0, k, (b,), generator=g)
    return k, logits, cl, seed


@pytest.mark.parametrize("name", list_methods())
def test_every_cll_loss_is_finite_and_soft_one_hot_equals_hard(name):
    @FAST
    @given(batches())
    def check(batch):
        k, logits, cl, seed = batch
        q = transition_matrix("dirichlet", k, seed=seed) if k >= 2 else None
        m = build_method(name, k, Q=q)
        hard = m.loss(logits, cl)
        soft = m.loss(logits, torch.nn.functional.one_hot(cl, k).float())
        assert torch.isfinite(hard) and torch.isfinite(soft)
        assert torch.allclose(hard, soft, rtol=1e-5, atol=1e-5)

    check()


@FAST
@given(st.integers(1, 5000), st.integers(1, 60), st.floats(1, 1000), st.sampled_from(["exp", "step"]))
def test_long_tail_counts_are_non_increasing(n_max, k, ratio, kind):
    if ratio > n_max:
        with pytest.raises(ValueError):
            long_tail_counts(n_max, k, ratio, kind)
        return
    counts = long_tail_counts(n_max, k, ratio, kind)
    assert len(counts) == k and min(counts) >= 1 and counts[0] <= n_max
    assert counts[0] == n_max or (kind == "step" and k == 1)  # step: ⌊K/2⌋ = 0 head classes when K = 1
    assert all(a >= b for a, b in zip(counts, counts[1:]))
    assert counts[-1] >= math.floor(n_max / ratio) - 1


# ------------------------------------------------------------ labkit.mix (read, not edited, here)

@FAST
@given(st.integers(2, 8), st.integers(1, 12), SEEDS, st.booleans(), st.sampled_from(["input", "reverse"]))
def test_mixing_preserves_target_mass(k, b, seed, scalar, weighting):
    from labkit.mix import soft_targets

    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, k, (b,), generator=g)
    partner = torch.randint(0, b, (b,), generator=g)
    lam = torch.rand((), generator=g) if scalar else torch.rand(b, generator=g)
    t = soft_targets(target, partner, lam, k, weighting)
    assert torch.allclose(t.sum(1), torch.ones(b), atol=1e-6)  # one-hot rows mix into rows of mass 1
    assert bool((t >= 0).all())
    multi = torch.rand(b, k, generator=g)  # soft rows: mass is mixed like the inputs
    t2 = soft_targets(multi, partner, lam, k, weighting)
    lam_v = (lam.expand(b) if scalar else lam)
    lam_v = 1 - lam_v if weighting == "reverse" else lam_v
    expected = lam_v * multi.sum(1) + (1 - lam_v) * multi.sum(1)[partner]
    assert torch.allclose(t2.sum(1), expected, atol=1e-5)


@FAST
@given(st.integers(6, 40), st.integers(1, 5), st.integers(1, 4), SEEDS)
def test_kmeans_inertia_never_increases_over_iterations(n, k, d, seed):
    from labkit.mix import kmeans

    k = min(k, n)
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed))
    inertia = [kmeans(x, k, iters=t, tol=0.0, seed=seed, device="cpu").inertia for t in range(1, 6)]
    assert all(b <= a * (1 + 1e-5) + 1e-6 for a, b in zip(inertia, inertia[1:])), inertia


@FAST
@given(st.integers(2, 4), st.integers(3, 12), st.integers(1, 4), SEEDS)
def test_smote_points_lie_on_same_class_segments(k, n_min, nn, seed):
    import warnings

    from labkit.mix import smote

    g = torch.Generator().manual_seed(seed)
    counts = [n_min * 3] + [n_min] * (k - 1)
    y = torch.cat([torch.full((c,), i) for i, c in enumerate(counts)])
    x = torch.randn(len(y), 3, generator=g)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x_new, y_new, info = smote(x, y, k=nn, seed=seed, return_info=True)
    a, p, u = info["anchor"], info["partner"], info["u"]
    assert bool((y[a] == y_new).all()) and bool((y[p] == y_new).all())  # both ends of the segment: same class
    assert bool(((u >= 0) & (u <= 1)).all())
    assert torch.allclose(x_new, x[a] + u[:, None] * (x[p] - x[a]), atol=1e-5)
    assert np.array_equal(np.bincount(torch.cat([y, y_new]).numpy()), np.full(k, counts[0]))
