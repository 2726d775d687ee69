"""Mixup primitives: λ sampling, partners, mixing and soft (complementary) targets."""
import pytest
import torch

from labkit.mix import mix, random_partners, sample_dirichlet, sample_lambda, soft_targets
from labkit.mix.mixup import expected_mix_share


def test_lambda_is_beta_and_seeded():
    lam = sample_lambda(0.2, 50_000, seed=0)
    assert lam.shape == (50_000,) and bool(((lam >= 0) & (lam <= 1)).all())
    # Beta(α, α): mean 1/2, variance 1 / (4(2α + 1)) = 0.1786 at α = 0.2
    assert abs(float(lam.mean()) - 0.5) < 0.01
    assert abs(float(lam.var()) - 1 / (4 * 1.4)) < 0.01
    assert torch.equal(lam, sample_lambda(0.2, 50_000, seed=0))
    assert not torch.equal(lam, sample_lambda(0.2, 50_000, seed=1))
    assert sample_lambda(1.0, seed=0).ndim == 0


@pytest.mark.parametrize("alpha", [0.2, 1.0, 4.0])
def test_expected_mix_share_is_the_beta_moment(alpha):
    # E[λ(1 − λ)] = α / (2(2α + 1)): from E[λ] = 1/2 and Var λ = 1/(4(2α + 1)), E[λ²] = Var + 1/4
    var = 1 / (4 * (2 * alpha + 1))
    assert expected_mix_share(alpha) == pytest.approx(0.5 - (var + 0.25))
    lam = sample_lambda(alpha, 200_000, seed=3)
    assert abs(float((lam * (1 - lam)).mean()) - expected_mix_share(alpha)) < 2e-3


def test_expected_mix_share_values_and_limits():
    assert expected_mix_share(1.0) == pytest.approx(1 / 6)
    assert expected_mix_share(0.2) == pytest.approx(0.2 / 2.8)
    assert expected_mix_share(1e-9) < 1e-8 and expected_mix_share(1e9) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="alpha"):
        expected_mix_share(0)


def test_dirichlet_rows_sum_to_one():
    w = sample_dirichlet(0.2, 1000, 3, seed=0)
    assert w.shape == (1000, 3)
    assert torch.allclose(w.sum(1), torch.ones(1000), atol=1e-5)
    assert abs(float(w.mean()) - 1 / 3) < 0.02


@pytest.mark.parametrize("alpha", [0, -1, float("nan"), "0.2"])
def test_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        sample_lambda(alpha, 3)
    with pytest.raises(ValueError, match="alpha"):
        sample_dirichlet(alpha, 3)


def test_random_partners_uniform_over_others():
    n, draws = 5, 20_000
    g = torch.Generator().manual_seed(0)
    p = torch.stack([random_partners(n, g) for _ in range(draws)])
    counts = torch.zeros(n, n)
    counts.index_put_((torch.arange(n).repeat(draws), p.flatten()), torch.ones(n * draws), accumulate=True)
    assert counts.diag().sum() == 0
    freq = counts / draws
    expected = 1 / (n - 1)
    sd = (expected * (1 - expected) / draws) ** 0.5
    off = ~torch.eye(n, dtype=torch.bool)
    assert float((freq[off] - expected).abs().max()) < 5 * sd


def test_permutation_partners_are_a_permutation():
    p = random_partners(100, seed=3, permutation=True)
    assert torch.equal(p.sort().values, torch.arange(100))
    assert random_partners(1, seed=0).tolist() == [0]
    with pytest.raises(ValueError, match="positive integer"):
        random_partners(0)


def test_mix_formula_scalar_and_vector_lambda():
    x = torch.randn(6, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    partner = torch.tensor([1, 0, 3, 2, 5, 4])
    assert torch.allclose(mix(x, partner, 0.3), 0.3 * x + 0.7 * x[partner])
    lam = torch.linspace(0, 1, 6)
    out = mix(x, partner, lam)
    assert torch.allclose(out[0], x[1]) and torch.allclose(out[5], x[5])
    assert torch.allclose(mix(x, torch.arange(6), lam), x)  # own partner: unchanged


def test_soft_targets_input_sum_to_one_and_follow_lambda():
    cl = torch.tensor([2, 0, 1, 3])
    partner = torch.tensor([1, 2, 3, 0])
    lam = torch.tensor([0.9, 0.5, 0.2, 0.0])
    t = soft_targets(cl, partner, lam, 4)
    assert torch.allclose(t.sum(1), torch.ones(4))
    assert torch.allclose(t[torch.arange(4), cl], lam)          # own CL gets λ
    assert torch.allclose(t[torch.arange(4), cl[partner]], 1 - lam)  # partner's CL gets 1 − λ
    rev = soft_targets(cl, partner, lam, 4, weighting="reverse")
    assert torch.allclose(rev[torch.arange(4), cl], 1 - lam)
    same = soft_targets(cl, torch.arange(4), lam, 4)
    assert torch.equal(same, torch.nn.functional.one_hot(cl, 4).float())


def test_soft_targets_from_multi_hot():
    multi = torch.tensor([[1., 1., 0.], [0., 0., 1.]])
    t = soft_targets(multi, torch.tensor([1, 0]), 0.25, 3)
    assert torch.allclose(t, torch.tensor([[0.25, 0.25, 0.75], [0.75, 0.75, 0.25]]))


def test_bad_inputs():
    x = torch.zeros(4, 3)
    with pytest.raises(ValueError, match="partner"):
        mix(x, torch.tensor([0, 1, 2]), 0.5)  # mismatched length
    with pytest.raises(ValueError, match="partner indices"):
        mix(x, torch.tensor([0, 1, 2, 4]), 0.5)
    with pytest.raises(ValueError, match="lam"):
        mix(x, torch.arange(4), torch.ones(3))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        mix(x, torch.arange(4), 1.5)
    with pytest.raises(ValueError, match="weighting"):
        soft_targets(torch.zeros(4, dtype=torch.long), torch.arange(4), 0.5, 3, weighting="union")
    with pytest.raises(ValueError, match="class indices"):
        soft_targets(torch.tensor([0, 5]), torch.arange(2), 0.5, 3)
