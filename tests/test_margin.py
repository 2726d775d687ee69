"""Label-weight rules, re-weighting, LDAM and margins (docs/reference.md §4)."""
import math

import pytest
import torch
from torch import nn

from labkit.data import DeviceLoader
from labkit.mix import (CosineClassifier, ImbalancedLoss, LDAMLoss, boundary_distances, class_balanced_weights,
                        class_margins, drw_weights, ldam_margins, mamix_m, mamix_weight, mixup_weight,
                        remix_weight, sample_margins, soft_cross_entropy, use_cosine_head)
from labkit.models import build_model
from labkit.train import fit

LAM = torch.linspace(0, 1, 101)


# ---------------------------------------------------------------------------------- MAMix

def test_mamix_reference_value():
    assert float(mamix_m(5000, 50)) == pytest.approx(0.2403, abs=5e-5)
    m = 5000 ** -0.25 / (5000 ** -0.25 + 50 ** -0.25)
    assert float(mamix_m(5000, 50)) == pytest.approx(m, rel=1e-5)


@pytest.mark.parametrize("n_i, n_j, r", [(5000, 50, 0.0), (50, 5000, 0.0), (300, 300, -0.25), (7, 7, -2.0)])
def test_mamix_reduces_to_mixup(n_i, n_j, r):
    assert torch.allclose(mamix_weight(LAM, n_i, n_j, r=r), LAM, atol=1e-6)


@pytest.mark.parametrize("n_i, n_j", [(5000, 50), (50, 5000), (131, 13), (2, 900)])
def test_mamix_anchor_points_and_monotone(n_i, n_j):
    m = float(mamix_m(n_i, n_j))
    w = mamix_weight(LAM, n_i, n_j)
    assert float(mamix_weight(torch.tensor(1 - m), n_i, n_j)) == pytest.approx(0.5, abs=1e-6)
    assert float(w[0]) == 0.0 and float(w[-1]) == pytest.approx(1.0)
    assert bool((w[1:] >= w[:-1]).all())


def test_mamix_head_tail_pair_favours_the_tail():
    # an input 76% head (λ = 1 − m on the head sample) is labelled half head, half tail
    lam = torch.tensor([0.7597])
    assert float(mamix_weight(lam, 5000, 50)) == pytest.approx(0.5, abs=1e-3)
    assert float(mamix_weight(lam, 5000, 50)) < float(mixup_weight(lam))
    # from the tail sample's side the same mix gives the tail MORE than its input share
    assert float(mamix_weight(1 - lam, 50, 5000)) == pytest.approx(0.5, abs=1e-3)


def test_mamix_is_vectorised_over_pairs():
    lam = torch.tensor([0.2, 0.5, 0.9])
    n_i, n_j = torch.tensor([5000.0, 10, 300]), torch.tensor([50.0, 10, 3])
    w = mamix_weight(lam, n_i, n_j)
    assert torch.allclose(w, torch.stack([mamix_weight(lam[i], n_i[i], n_j[i]) for i in range(3)]))


def test_rules_validate_inputs():
    with pytest.raises(ValueError, match="lam"):
        mamix_weight(torch.tensor([1.2]), 5, 5)
    with pytest.raises(ValueError, match="positive"):
        mamix_weight(torch.tensor([0.5]), 0, 5)
    with pytest.raises(ValueError, match="kappa"):
        remix_weight(torch.tensor([0.5]), 5, 5, kappa=0.5)


# ---------------------------------------------------------------------------------- Remix

def test_remix_three_cases():
    # head sample (n_i/n_j >= κ) with λ < τ: the whole label goes to the minority partner
    assert float(remix_weight(torch.tensor(0.3), 300, 100)) == 0.0
    # tail sample (n_i/n_j <= 1/κ) with 1 − λ < τ: the whole label stays on it
    assert float(remix_weight(torch.tensor(0.7), 100, 300)) == 1.0
    # otherwise Mixup's λ
    assert float(remix_weight(torch.tensor(0.3), 200, 100)) == pytest.approx(0.3)  # ratio 2 < κ
    assert float(remix_weight(torch.tensor(0.6), 300, 100)) == pytest.approx(0.6)  # λ >= τ
    assert float(remix_weight(torch.tensor(0.4), 100, 300)) == pytest.approx(0.4)  # 1 − λ >= τ


# ------------------------------------------------------------------------------ CB and DRW

def test_class_balanced_weights_sum_to_k_and_follow_effective_numbers():
    counts = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    w = class_balanced_weights(counts)
    assert float(w.sum()) == pytest.approx(10.0, rel=1e-6)
    raw = torch.tensor([(1 - 0.9999) / (1 - 0.9999 ** n) for n in counts])
    assert torch.allclose(w, raw / raw.sum() * 10, rtol=1e-5)
    assert bool((w[1:] > w[:-1]).all())  # rarer class, larger weight
    assert torch.allclose(class_balanced_weights([7, 7, 7]), torch.ones(3))


def test_drw_weights_are_one_before_the_switch():
    counts = [100, 10]
    for epoch in range(1, 161):
        assert torch.equal(drw_weights(counts, epoch, 160), torch.ones(2))
    assert torch.allclose(drw_weights(counts, 161, 160), class_balanced_weights(counts))
    assert torch.allclose(drw_weights(counts, 1, 0), class_balanced_weights(counts))
    assert torch.equal(drw_weights(counts, 500, None), torch.ones(2))


def test_imbalanced_loss_drw_switch_changes_the_loss():
    counts = torch.tensor([90, 10])
    model = nn.Linear(2, 2)
    batch = (torch.randn(8, 2), torch.tensor([0, 0, 0, 0, 0, 0, 1, 1]))
    loss = ImbalancedLoss("drw", counts, drw_epoch=3)
    loss.set_epoch(3)
    plain = float(loss(model, batch)["loss"].detach())
    assert plain == pytest.approx(float(nn.functional.cross_entropy(model(batch[0]), batch[1]).detach()), rel=1e-5)
    loss.set_epoch(4)
    w = class_balanced_weights(counts)
    weighted = nn.functional.cross_entropy(model(batch[0]), batch[1], weight=w)
    assert float(loss(model, batch)["loss"].detach()) == pytest.approx(float(weighted.detach()), rel=1e-5)


def test_unknown_strategy_and_missing_drw_epoch_raise():
    with pytest.raises(ValueError, match="erm"):
        ImbalancedLoss("focal", [3, 1])
    with pytest.raises(ValueError, match="drw_epoch"):
        ImbalancedLoss("mamix-drw", [3, 1])


def test_mixing_loss_equals_the_weighted_two_label_loss():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    x, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    counts = torch.tensor([100.0, 10.0])
    loss = ImbalancedLoss("mamix", counts, alpha=1.0, seed=5)
    out = loss(model, (x, y))
    # replay the same random draws
    from labkit.mix import mix, random_partners, sample_lambda
    from labkit.device import make_generator
    g = make_generator(5)
    p = random_partners(16, g, permutation=True)
    lam = sample_lambda(1.0, 65536, g)[:16]  # the loss draws λ in blocks of 65,536
    w = mamix_weight(lam, counts[y], counts[y[p]])
    logp = torch.log_softmax(model(mix(x, p, lam)), 1)
    expected = -(w * logp[torch.arange(16), y] + (1 - w) * logp[torch.arange(16), y[p]]).mean()
    assert float(out["loss"].detach()) == pytest.approx(float(expected.detach()), rel=1e-5)
    assert float(out["label_weight"]) == pytest.approx(float(w.mean()), rel=1e-5)


class _Capture(nn.Module):
    """A linear model that remembers the (mixed) inputs it was given."""

    def __init__(self, d, k):
        super().__init__()
        self.linear = nn.Linear(d, k)

    def forward(self, x):
        self.seen = x.detach().clone()
        return self.linear(x)


@pytest.mark.parametrize("lam_per", ["batch", "example"])
def test_lam_per_batch_draws_one_lambda_per_batch(lam_per):
    n = 32
    x, y = torch.eye(n), torch.randint(0, 2, (n,), generator=torch.Generator().manual_seed(0))
    model = _Capture(n, 2)
    loss = ImbalancedLoss("mixup", [90, 10], alpha=1.0, lam_per=lam_per, seed=3)
    for _ in range(3):  # x_mix[i] = λ_i e_i + (1 − λ_i) e_partner: λ_i is the diagonal where i was mixed
        loss(model, (x, y))
        mixed = (model.seen > 0).sum(1) == 2
        lams = model.seen.diagonal()[mixed]
        assert len(lams) > 10
        same = bool(torch.allclose(lams, lams[0].expand_as(lams)))
        assert same == (lam_per == "batch")


def test_loss_norm_batch_equals_the_package_formula_on_a_hand_made_batch():
    from labkit.device import make_generator
    from labkit.mix import random_partners, sample_lambda

    counts = torch.tensor([60.0, 15.0, 5.0])
    w_c = class_balanced_weights(counts)
    torch.manual_seed(1)
    model = nn.Linear(4, 3)
    x, y = torch.randn(6, 4), torch.tensor([0, 0, 0, 1, 1, 2])
    # DRW after the switch: the package's CrossEntropyLoss(weight, reduction="none")(z, y).mean()
    drw = ImbalancedLoss("drw", counts, drw_epoch=1, loss_norm="batch")
    drw.set_epoch(2)
    package = nn.functional.cross_entropy(model(x), y, weight=w_c, reduction="none").mean()
    assert float(drw(model, (x, y))["loss"].detach()) == pytest.approx(float(package.detach()), rel=1e-5)
    labkit_norm = ImbalancedLoss("drw", counts, drw_epoch=1)
    labkit_norm.set_epoch(2)
    ratio = float(labkit_norm(model, (x, y))["loss"].detach()) / float(package.detach())
    assert ratio == pytest.approx(len(y) / float(w_c[y].sum()), rel=1e-5)  # the two differ by B / Σ w_y
    # Mixup-DRW, one λ per batch: lam·CE_none(z, y_a) + (1 − lam)·CE_none(z, y_b), then .mean()
    mixup = ImbalancedLoss("mixup-drw", counts, drw_epoch=1, lam_per="batch", loss_norm="batch", seed=7)
    mixup.set_epoch(2)
    out = float(mixup(model, (x, y))["loss"].detach())
    g = make_generator(7)
    p = random_partners(6, g, permutation=True)
    lam = float(sample_lambda(1.0, 65536, g)[0])
    z = model(lam * x + (1 - lam) * x[p])
    ce = lambda t: nn.functional.cross_entropy(z, t, weight=w_c, reduction="none")  # noqa: E731
    package = (lam * ce(y) + (1 - lam) * ce(y[p])).mean()
    assert out == pytest.approx(float(package.detach()), rel=1e-5)
    # MAMix-DRW: the package's per-pair label weight t on y_a, written with the PARTNER's input share s = 1 − λ
    mamix = ImbalancedLoss("mamix-drw", counts, drw_epoch=1, lam_per="batch", loss_norm="batch", seed=7)
    mamix.set_epoch(2)
    out = float(mamix(model, (x, y))["loss"].detach())
    s_share = 1 - lam
    k1, k2 = counts[y] ** -0.25, counts[y[p]] ** -0.25
    m = k1 / (k1 + k2)
    t = torch.where(s_share < m, 1 - 0.5 * s_share / m, 0.5 * (1 - s_share) / (1 - m))
    package = (t * ce(y) + (1 - t) * ce(y[p])).mean()
    assert out == pytest.approx(float(package.detach()), rel=1e-5)


def test_soft_cross_entropy_matches_pytorch_for_hard_labels():
    z, y = torch.randn(10, 4), torch.randint(0, 4, (10,))
    w = torch.tensor([0.5, 1.0, 2.0, 0.5])
    assert float(soft_cross_entropy(z, y)) == pytest.approx(float(nn.functional.cross_entropy(z, y)), rel=1e-5)
    assert float(soft_cross_entropy(z, y, w)) == pytest.approx(
        float(nn.functional.cross_entropy(z, y, weight=w)), rel=1e-5)


# ----------------------------------------------------------------------------------- LDAM

def test_ldam_rarest_class_gets_max_margin():
    counts = [5000, 500, 50]
    d = ldam_margins(counts, max_margin=0.5)
    assert float(d[-1]) == pytest.approx(0.5)
    assert float(d[0]) == pytest.approx(0.5 * (5000 / 50) ** -0.25, rel=1e-5)


def test_ldam_loss_is_cross_entropy_of_shifted_scaled_logits():
    counts = [100, 10]
    z, y = torch.tensor([[0.2, 0.1], [0.3, 0.4]]), torch.tensor([0, 1])
    loss = LDAMLoss(counts, max_margin=0.5, scale=30)
    d = ldam_margins(counts)
    shifted = z.clone()
    shifted[0, 0] -= d[0]
    shifted[1, 1] -= d[1]
    assert float(loss(z, y)) == pytest.approx(float(nn.functional.cross_entropy(30 * shifted, y)), rel=1e-5)


def test_cosine_head_outputs_cosines():
    model = use_cosine_head(build_model("mlp", (4,), 3))
    assert isinstance(model.head, CosineClassifier)
    z = model(torch.randn(5, 4))
    assert bool((z.abs() <= 1 + 1e-6).all())


# -------------------------------------------------------------------------------- margins

def test_sample_margins_definition():
    z = torch.tensor([[3.0, 1.0, 2.0], [0.0, 1.0, 5.0]])
    assert torch.allclose(sample_margins(z, torch.tensor([0, 1])), torch.tensor([1.0, -4.0]))


def test_class_margins_of_a_fixed_linear_model():
    model = build_model("linear", (2,), 2)
    with torch.no_grad():
        model.head.weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
        model.head.bias.zero_()
    x = torch.tensor([[1.0, 0], [2.0, 5], [3.0, 1], [-1.0, 0], [-0.5, 2]])
    y = torch.tensor([0, 0, 0, 1, 1])
    m = class_margins(model, (x, y))
    # γ = z_y − z_other = ±2·x₀
    assert m["count"] == [3, 2]
    assert m["mean"] == pytest.approx([4.0, 1.5])
    assert m["min"] == pytest.approx([2.0, 1.0])
    assert m["q05"][0] == pytest.approx(float(torch.quantile(torch.tensor([2.0, 4, 6]), 0.05)))
    # normalised: divided by ‖w_0 − w_1‖ = 2, the distance to the boundary x₀ = 0
    assert class_margins(model, (x, y), normalize=True)["min"] == pytest.approx([1.0, 0.5])


def test_boundary_distances_for_a_known_boundary():
    model = build_model("linear", (2,), 2)
    with torch.no_grad():
        model.head.weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
        model.head.bias.copy_(torch.tensor([-0.5, 0.5]))  # boundary at x₀ = 0.5
    x = torch.tensor([[2.0, 0], [1.0, 1], [-1.0, 0], [-2.0, 1], [0.0, 0.5]])
    y = torch.tensor([0, 0, 1, 1, 0])
    d = boundary_distances(model, (x, y), resolution=401)
    assert d.tolist() == pytest.approx([1.5, 0.5, 1.5, 2.5, -0.5], abs=0.02)


def test_mixing_strategy_trains():
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(80, 2, generator=g) - 2, torch.randn(10, 2, generator=g) + 2])
    y = torch.cat([torch.zeros(80, dtype=torch.long), torch.ones(10, dtype=torch.long)])
    model = build_model("mlp", (2,), 2, hidden=16)
    loss = ImbalancedLoss("mamix-drw", torch.bincount(y), drw_epoch=5, seed=0)
    history = fit(model, DeviceLoader(x, y, batch_size=32, seed=0, device="cpu"), loss, epochs=10, lr=1e-2,
                  progress=False)
    assert "label_weight" in history.keys() and math.isfinite(history.last["loss"])
    assert history["loss"][-1] < history["loss"][0]


@pytest.mark.parametrize("n_i, n_j", [(0, 5), (0, 0), (-3, 5), (5, float("nan")), (float("inf"), 5)])
def test_mamix_m_refuses_counts_that_are_not_positive(n_i, n_j):
    from labkit.mix import mamix_m

    with pytest.raises(ValueError, match="positive finite"):
        mamix_m(n_i, n_j)
