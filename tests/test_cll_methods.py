"""CLL methods: the identities of docs/reference.md §2.2–2.4, the soft-target rule, one-step behaviour, bad input."""
import math

import pytest
import torch
import torch.nn.functional as F

from labkit.cll import (CLLObjective, cl_validation, list_methods, make_method, sample_complementary,
                        transition_matrix)

K = 10
ALL = list_methods()
NEED_Q = ("fwd", "ure-tnn", "ure-tga", "cpe-f", "cpe-t")
PER_EXAMPLE = ("pc", "scl-nl", "scl-exp", "fwd", "dm", "op", "cpe-i", "cpe-f", "cpe-t", "ce")


def _batch(b=32, k=K, seed=0, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, k, generator=g) * scale, torch.randint(0, k, (b,), generator=g)


def test_registry_has_all_eighteen_methods():
    assert ALL == ["pc", "scl-nl", "scl-exp", "fwd", "ure-nn", "ure-ga", "ure-tnn", "ure-tga", "dm", "mcl-mae",
                   "mcl-exp", "mcl-log", "op", "scarce", "cpe-i", "cpe-f", "cpe-t", "ce"]


# ------------------------------------------------------------------ identities (docs/reference.md §2.3)

def test_fwd_is_scl_nl_plus_log_k_minus_1_under_uniform_q():
    z, cl = _batch()
    q = transition_matrix("uniform", K)
    fwd = make_method("fwd", K, Q=q).loss(z, cl)
    scl = make_method("scl-nl", K).loss(z, cl)
    assert abs(float(fwd - scl) - math.log(K - 1)) < 1e-4


def test_fwd_and_cpe_f_have_the_same_loss_and_gradient():
    z, cl = _batch()
    q = transition_matrix("strong", K, seed=1)
    z1, z2 = z.clone().requires_grad_(), z.clone().requires_grad_()
    a, b = make_method("fwd", K, Q=q).loss(z1, cl), make_method("cpe-f", K, Q=q).loss(z2, cl)
    a.backward()
    b.backward()
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(z1.grad, z2.grad)


def test_cpe_decoding_is_argmax_under_uniform_q():
    z, _ = _batch(b=500, scale=3.0)
    q = transition_matrix("uniform", K)
    for name in ("cpe-f", "cpe-t"):
        assert torch.equal(make_method(name, K, Q=q).predict(z), z.argmax(1))


def test_cpe_i_decodes_the_class_whose_row_is_nearest():
    # cpe-i's softmax estimates P(ȳ | x): a model certain the CL distribution is Q[3] predicts 3
    q = transition_matrix("biased", K)
    logits = torch.log(q[3] + 1e-9)[None]
    assert int(make_method("cpe-i", K, Q=q).predict(logits)) == 3


def test_cpe_t_learns_its_matrix_and_decodes_with_it():
    q = transition_matrix("uniform", K)
    m = make_method("cpe-t", K, Q=q)
    params = list(m.parameters())
    assert len(params) == 1 and params[0].shape == (K, K)
    torch.testing.assert_close(m.transition(), q, atol=1e-5, rtol=0)
    with torch.no_grad():
        m.theta.copy_(torch.log(transition_matrix("biased", K) + 1e-6))
    z, _ = _batch(b=200)
    v = m.cl_probabilities(z)
    expected = torch.cdist(v, m.transition(), p=1).argmin(1)
    assert torch.equal(m.predict(z), expected)


def test_one_cl_mcl_log_and_mae_are_scaled_scl_nl_and_s_cl():
    z, cl = _batch()
    s = z.softmax(1).gather(1, cl[:, None]).squeeze(1)
    scale = 2 * K - 2
    mcl_log = make_method("mcl-log", K).loss(z, cl)
    torch.testing.assert_close(mcl_log, scale * make_method("scl-nl", K).loss(z, cl), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(make_method("mcl-mae", K).loss(z, cl), scale * s.mean(), rtol=1e-5, atol=1e-6)


def test_mcl_uses_the_set_size():
    z, _ = _batch(b=4)
    sets = torch.zeros(4, K)
    sets[:, [1, 2, 3]] = 1
    s = z.softmax(1)
    p_rest = 1 - s[:, [1, 2, 3]].sum(1)
    expected = ((2 * K - 2) / 3 * (1 - p_rest)).mean()
    torch.testing.assert_close(make_method("mcl-mae", K).loss(z, sets), expected)


@pytest.mark.parametrize("k", [3, 6])
def test_ure_is_unbiased_for_a_random_invertible_q(k):
    g = torch.Generator().manual_seed(k)
    q = torch.rand(k, k, generator=g) + 0.1
    q = q / q.sum(1, keepdim=True)
    z = torch.randn(16, k, generator=g)
    m = make_method("ure-tnn", k, Q=q)
    lbar = m.unbiased_losses(z)                      # ℓ̄(x, j) for every j
    for y in range(k):
        torch.testing.assert_close((q[y] * lbar).sum(1), -F.log_softmax(z, 1)[:, y], rtol=1e-4, atol=1e-4)


def test_ure_per_class_vs_per_group_on_the_exact_three_class_example():
    # docs/reference.md §2.4: a perfect model, uniform Q, balanced classes; each (y, ȳ) pair once
    probs = torch.tensor([[0.9, 0.05, 0.05], [1e-4, 0.9, 0.0999], [1e-4, 0.0999, 0.9]])
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    cl = torch.tensor([1, 2, 0, 2, 0, 1])
    logits = probs[y].log()
    per_class = make_method("ure-nn", 3).partial_risks(logits, cl)
    per_group = make_method("ure-nn", 3, ure_grouping="label").partial_risks(logits, cl)
    torch.testing.assert_close(per_class, torch.full((3,), -math.log(0.9) / 3), rtol=1e-4, atol=1e-5)
    assert [round(v, 2) for v in per_group.tolist()] == [-2.27, 1.19, 1.19]
    torch.testing.assert_close(per_class.sum(), per_group.sum(), rtol=1e-4, atol=1e-5)
    # the NN correction leaves the per-class total alone but clips the per-group one
    nn_class = make_method("ure-nn", 3).loss(logits, cl)
    nn_group = make_method("ure-nn", 3, ure_grouping="label").loss(logits, cl)
    torch.testing.assert_close(nn_class, per_class.sum())
    assert float(nn_group) > 2.3


def test_ure_ga_ascends_only_on_negative_partial_risks():
    probs = torch.tensor([[0.9, 0.05, 0.05], [1e-4, 0.9, 0.0999], [1e-4, 0.0999, 0.9]])
    y, cl = torch.tensor([0, 0, 1, 1, 2, 2]), torch.tensor([1, 2, 0, 2, 0, 1])
    m = make_method("ure-ga", 3, ure_grouping="label")
    r = m.partial_risks(probs[y].log(), cl)
    torch.testing.assert_close(m.loss(probs[y].log(), cl), -r[r < 0].sum())
    m = make_method("ure-ga", 3)
    torch.testing.assert_close(m.loss(probs[y].log(), cl), m.partial_risks(probs[y].log(), cl).sum())


def test_ure_nn_and_ga_force_q_uniform():
    z, cl = _batch()
    biased = transition_matrix("biased", K)
    torch.testing.assert_close(make_method("ure-nn", K, Q=biased).loss(z, cl),
                               make_method("ure-tnn", K, Q=transition_matrix("uniform", K)).loss(z, cl))


# ---------------------------------------------------------------------------- the soft-target rule

@pytest.mark.parametrize("name", ALL)
def test_one_hot_soft_target_equals_hard_exactly(name):
    z, cl = _batch()
    m = make_method(name, K, Q=transition_matrix("strong", K, seed=0))
    assert torch.equal(m.loss(z, cl), m.loss(z, F.one_hot(cl, K).float()))


@pytest.mark.parametrize("name", ALL)
def test_several_labels_equal_their_multi_hot(name):
    z, _ = _batch(b=20)
    cl = sample_complementary(torch.randint(0, K, (20,)), transition_matrix("uniform", K), num_cl=3, seed=0)
    m = make_method(name, K, Q=transition_matrix("uniform", K))
    hot = torch.zeros(20, K).scatter_(1, cl, 1.0)
    assert torch.equal(m.loss(z, cl), m.loss(z, hot))


@pytest.mark.parametrize("name", PER_EXAMPLE + ("mcl-log",))
def test_soft_target_is_the_weighted_sum_of_per_label_losses(name):
    z, _ = _batch(b=8)
    m = make_method(name, K, Q=transition_matrix("weak", K, seed=0))
    a, b, lam = torch.randint(0, K, (8,)), (torch.randint(1, K, (8,)) + 0) % K, 0.3
    b = torch.where(b == a, (a + 1) % K, b)
    t = lam * F.one_hot(a, K).float() + (1 - lam) * F.one_hot(b, K).float()
    per_example = [lam * m.loss(z[i:i + 1], a[i:i + 1]) + (1 - lam) * m.loss(z[i:i + 1], b[i:i + 1]) for i in range(8)]
    torch.testing.assert_close(m.loss(z, t), torch.stack(per_example).mean(), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------- behaviour

@pytest.mark.parametrize("kind", ["uniform", "biased"])
@pytest.mark.parametrize("name", ALL)
def test_one_gradient_step_lowers_the_probability_of_the_cl(name, kind):
    k = 5
    q = transition_matrix(kind, k)
    y = torch.arange(k).repeat_interleave(k - 1)                  # every (y, ȳ) pair once
    cl = torch.tensor([c for t in range(k) for c in range(k) if c != t])
    m = make_method(name, k, Q=q)
    target = y if m.ordinary else cl
    z0 = torch.randn(len(y), k, generator=torch.Generator().manual_seed(1)) * 0.01
    z = z0.clone().requires_grad_()
    m.loss(z, target).backward()
    before = z0.softmax(1).gather(1, target[:, None])
    after = (z0 - 0.1 * z.grad).softmax(1).gather(1, target[:, None])
    if name in ("ce", "cpe-i"):
        # ce: the target is the TRUE label; cpe-i: the softmax estimates P(ȳ | x) itself
        assert (after > before).all()
    else:
        assert (after < before).all()


def test_predict_is_argmax_except_cpe():
    z, _ = _batch(b=100)
    q = transition_matrix("biased", K)
    for name in ALL:
        if not name.startswith("cpe"):
            assert torch.equal(make_method(name, K, Q=q).predict(z), z.argmax(1))


def test_losses_are_batch_means():
    z, cl = _batch(b=6)
    for name in ("pc", "scl-nl", "fwd", "dm", "op", "cpe-t"):
        m = make_method(name, K, Q=transition_matrix("uniform", K))
        each = torch.stack([m.loss(z[i:i + 1], cl[i:i + 1]) for i in range(6)])
        torch.testing.assert_close(m.loss(z, cl), each.mean())
        torch.testing.assert_close(m.loss(torch.cat([z, z]), torch.cat([cl, cl])), m.loss(z, cl))


def test_scarce_matches_its_formula_and_uses_the_class_prior():
    z, cl = _batch(b=40, k=4, seed=3)
    prior = torch.tensor([0.4, 0.3, 0.2, 0.1])
    m = make_method("scarce", 4, class_prior=prior)
    total = 0.0
    for k in range(4):
        g, mine = z[:, k], cl == k
        neg = F.softplus(g[mine]).mean() if mine.any() else 0.0
        pos_cl = F.softplus(-g[mine]).mean() if mine.any() else 0.0
        total = total + (1 - prior[k]) * neg + (F.softplus(-g).mean() - (1 - prior[k]) * pos_cl).abs()
    torch.testing.assert_close(m.loss(z, cl), total)


def test_objective_trains_a_method_inside_fit():
    from labkit import DeviceLoader, fit
    from labkit.models import build_model

    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()
    cl = sample_complementary(y, transition_matrix("uniform", 4), seed=0)
    model = build_model("linear", (4,), 4)
    m = make_method("cpe-t", 4, Q=transition_matrix("uniform", 4))
    theta = m.theta.detach().clone()
    history = fit(model, DeviceLoader(x, cl, y, batch_size=16, seed=0, return_index=True),
                  CLLObjective(m), epochs=3, lr=1e-2, progress=False)
    assert history["loss"][-1] < history["loss"][0]
    assert not torch.equal(theta, m.theta.detach())   # cpe-t's matrix is trained too
    risks = fit(build_model("linear", (4,), 4), DeviceLoader(x, cl, batch_size=16, seed=0),
                CLLObjective(make_method("ure-ga", 4), log_risks=True), epochs=1, lr=1e-2, progress=False)
    assert {"risk_0", "risk_3", "min_risk"} <= set(risks.keys())


# ------------------------------------------------------------------------------ validation

def test_cl_validation_scel_is_the_forward_loss_and_ure_its_unbiased_estimate():
    z, cl = _batch(b=50)
    y = torch.randint(0, K, (50,))
    q = transition_matrix("strong", K, seed=4)
    scores = cl_validation(make_method("scl-nl", K), z, cl, q, y=y)
    torch.testing.assert_close(torch.tensor(scores["scel"]), make_method("fwd", K, Q=q).loss(z, cl))
    lbar = make_method("ure-tnn", K, Q=q).unbiased_losses(z).gather(1, cl[:, None]).mean()
    assert abs(scores["ure"] - float(lbar)) < 1e-4
    assert scores["oracle_accuracy"] == float((z.argmax(1) == y).double().mean())
    assert "oracle_accuracy" not in cl_validation(make_method("pc", K), z, cl, q)


def test_cl_validation_uses_cpes_own_estimate():
    z, cl = _batch(b=50)
    q = transition_matrix("uniform", K)
    scores = cl_validation(make_method("cpe-i", K, Q=q), z, cl, q)
    torch.testing.assert_close(torch.tensor(scores["scel"]),
                               -torch.log(z.softmax(1).gather(1, cl[:, None]) + 1e-6).mean())


# ---------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("name", NEED_Q)
def test_methods_that_need_q_refuse_to_run_without(name):
    with pytest.raises(ValueError, match="needs the transition matrix"):
        make_method(name, K)


def test_bad_inputs_are_refused_with_what_is_allowed():
    z, cl = _batch()
    with pytest.raises(ValueError, match="valid names"):
        make_method("ure", K)
    with pytest.raises(ValueError, match="10×10"):
        make_method("fwd", K, Q=transition_matrix("uniform", 4))
    with pytest.raises(ValueError, match="sum to 1"):
        make_method("fwd", 3, Q=torch.ones(3, 3))
    with pytest.raises(ValueError, match="ure_grouping"):
        make_method("scl-nl", K, ure_grouping="label")
    with pytest.raises(ValueError, match="'class'"):
        make_method("ure-nn", K, ure_grouping="group")
    with pytest.raises(ValueError, match="num_classes"):
        make_method("pc", 1)
    with pytest.raises(ValueError, match="class_prior"):
        make_method("scarce", K, class_prior=[0.5, 0.5])
    m = make_method("scl-nl", K)
    with pytest.raises(ValueError, match=r"\(B, 10\)"):
        m.loss(z[:, :5], cl)
    with pytest.raises(ValueError, match="0..9"):
        m.loss(z, cl + 10)
    with pytest.raises(ValueError, match="rows"):
        m.loss(z, cl[:-1])
    with pytest.raises(ValueError, match="soft target"):
        m.loss(z, torch.ones(len(z), 3))
    with pytest.raises(ValueError, match="empty"):
        make_method("mcl-log", K).loss(z, torch.zeros(len(z), K))
