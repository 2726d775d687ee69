"""Complementary-label noise of mixed pairs: simulation against the closed forms of docs/reference.md §3.2."""
import math

import pytest
import torch

from labkit.mix import (expected_cluster_noise, expected_noisy_mass, expected_pair_noise, noise_free_partners,
                        noisy_mass, noisy_pairs, pair_noise, random_partners, sample_lambda)

N = 20_000


def uniform_q(k):
    return (torch.ones(k, k, dtype=torch.float64) - torch.eye(k, dtype=torch.float64)) / (k - 1)


def biased_q(k, rho=10.0):
    """The ICM paper's setup 2: Q[y, c] ∝ ρ^(−c/(K−1)) for c ≠ y (written here from docs/reference.md §2.1)."""
    q = rho ** (-torch.arange(k, dtype=torch.float64) / (k - 1))
    q = q.expand(k, k) * (1 - torch.eye(k, dtype=torch.float64))
    return q / q.sum(1, keepdim=True)


def sample(y, q, seed):
    """One complementary label per example drawn from row Q[y] (the test's own sampler)."""
    g = torch.Generator().manual_seed(seed)
    return torch.multinomial(torch.as_tensor(q, dtype=torch.float64)[y], 1, generator=g)[:, 0]


@pytest.mark.parametrize("k", [10, 4])
def test_uniform_pair_noise_matches_closed_form(k):
    g = torch.Generator().manual_seed(k)
    y = torch.randint(k, (N,), generator=g)
    cl = sample(y, uniform_q(k), seed=1)
    measured = pair_noise(y, cl, random_partners(N, seed=2))
    closed = (2 * k - 3) / (k * (k - 1))
    assert expected_pair_noise(uniform_q(k)) == pytest.approx(closed, abs=1e-9)
    assert abs(measured - closed) < 0.01


def test_biased_q_and_long_tailed_prior_match_general_formula():
    k = 10
    q = biased_q(k)
    prior = 0.1 ** (torch.arange(k) / (k - 1))  # long-tailed, ratio 10
    prior = prior / prior.sum()
    y = torch.multinomial(prior, N, replacement=True, generator=torch.Generator().manual_seed(0))
    cl = sample(y, q, seed=1)
    measured = pair_noise(y, cl, random_partners(N, seed=2))
    assert abs(measured - expected_pair_noise(q, prior)) < 0.01
    # the biased matrix really changes the answer (the test could fail with the uniform formula)
    assert abs(expected_pair_noise(q, prior) - expected_pair_noise(uniform_q(k))) > 0.01


def test_noisy_mass_is_one_over_k():
    k = 10
    y = torch.randint(k, (N,), generator=torch.Generator().manual_seed(5))
    cl = sample(y, uniform_q(k), seed=6)
    lam = sample_lambda(0.2, N, seed=7)
    partner = random_partners(N, seed=8)
    assert expected_noisy_mass(uniform_q(k)) == pytest.approx(1 / k)
    assert abs(noisy_mass(y, cl, partner, lam) - 1 / k) < 0.01
    assert abs(noisy_mass(y, cl, partner, lam, weighting="reverse") - 1 / k) < 0.01


def test_pair_noise_counts_only_mixed_examples():
    # Six examples; 4 and 5 are unmixed (their own partner, e.g. alone in their cluster in the batch).
    y = torch.tensor([0, 1, 2, 3, 4, 5])
    cl = torch.tensor([1, 2, 3, 0, 0, 0])
    partner = torch.tensor([1, 0, 3, 2, 4, 5])
    # (0,1): ȳ_0 = 1 = y_1 -> noisy (both 0 and 1); (2,3): ȳ_2 = 3 = y_3 -> noisy (2 and 3).
    # Four mixed examples, all noisy: 1.0, not 4/6 (the old count took the unmixed ones as clean).
    assert pair_noise(y, cl, partner) == 1.0
    partner = torch.tensor([2, 1, 0, 3, 4, 5])  # only 0 and 2 mix: ȳ_0 = 1 ≠ y_2, ȳ_2 = 3 ≠ y_0
    assert pair_noise(y, cl, partner) == 0.0
    partner = torch.tensor([1, 0, 4, 3, 2, 5])  # (0,1) noisy; (2,4): ȳ_2 = 3 ≠ 4, ȳ_4 = 0 ≠ 2: clean
    assert pair_noise(y, cl, partner) == pytest.approx(2 / 4)
    # MICM-style two partners per example: unmixed only when both partners are the example itself
    two = torch.tensor([[1, 1], [0, 0], [2, 2], [3, 3], [4, 4], [5, 5]])
    assert pair_noise(y, cl, two) == 1.0


def test_noise_event_definition_on_hand_made_pairs():
    y = torch.tensor([0, 1, 2, 3])
    cl = torch.tensor([1, 3, 0, 2])
    partner = torch.tensor([1, 0, 3, 2])  # pairs (0,1): ȳ_0 = y_1 noisy; (2,3): ȳ_3 = y_2 noisy
    assert noisy_pairs(y, cl, partner).tolist() == [True, True, True, True]
    partner = torch.tensor([2, 3, 0, 1])  # (0,2): ȳ_2 = 0 = y_0 noisy; (1,3): ȳ_1 = 3 = y_3 noisy
    assert pair_noise(y, cl, partner) == 1.0
    clean = torch.tensor([3, 2, 1, 0])    # ȳ never the partner's true label for pairs (0,1),(2,3)
    assert pair_noise(y, clean, torch.tensor([1, 0, 3, 2])) == 0.0
    assert math.isnan(pair_noise(y, cl, torch.arange(4)))  # nobody mixed: no rate to report
    # example 0 (λ = 0.3): its own CL ȳ_0 = 1 = y_1 carries λ; example 1 (λ = 0.6): the partner's
    # CL ȳ_0 = y_1 carries 1 − λ = 0.4; ȳ_1 = 3 is nobody's true label
    assert noisy_mass(y[:2], cl[:2], torch.tensor([1, 0]), torch.tensor([0.3, 0.6])) == pytest.approx(
        (0.3 + 0.4) / 2)


def test_cluster_noise_closed_form():
    k = 10
    assert expected_cluster_noise(1.0, k) == 0.0
    assert expected_cluster_noise(1 / k, k) == pytest.approx(expected_pair_noise(uniform_q(k)))
    # simulate partners that share the class with probability p
    p = 0.7
    g = torch.Generator().manual_seed(0)
    y = torch.randint(k, (N,), generator=g)
    same = torch.rand(N, generator=g) < p
    y_partner = torch.where(same, y, (y + torch.randint(1, k, (N,), generator=g)) % k)
    yy = torch.cat([y, y_partner])
    cl = sample(yy, uniform_q(k), seed=3)
    partner = torch.cat([torch.arange(N) + N, torch.arange(N)])
    measured = float(noisy_pairs(yy, cl, partner)[:N].float().mean())
    assert abs(measured - expected_cluster_noise(p, k)) < 0.01


def test_oracle_removes_exactly_the_noisy_pairs():
    k = 4
    y = torch.randint(k, (2000,), generator=torch.Generator().manual_seed(0))
    cl = sample(y, uniform_q(k), seed=1)
    partner = random_partners(2000, seed=2)
    noisy = noisy_pairs(y, cl, partner)
    clean = noise_free_partners(y, cl, partner)
    assert pair_noise(y, cl, clean) == 0.0
    assert torch.equal(clean[~noisy], partner[~noisy])
    assert torch.equal(clean[noisy], torch.arange(2000)[noisy])


def test_bad_inputs():
    with pytest.raises(ValueError, match="rows summing to 1"):
        expected_pair_noise(torch.ones(3, 3))
    with pytest.raises(ValueError, match="square"):
        expected_pair_noise(torch.ones(3, 2) / 2)
    with pytest.raises(ValueError, match="prior"):
        expected_pair_noise(uniform_q(3), prior=[1, 1])
    with pytest.raises(ValueError, match="purity"):
        expected_cluster_noise(1.5, 10)
    with pytest.raises(ValueError, match="num_classes"):
        expected_cluster_noise(0.5, 1)
    with pytest.raises(ValueError, match="same length|different lengths|shape"):
        pair_noise(torch.zeros(4, dtype=torch.long), torch.ones(3, dtype=torch.long), torch.arange(4))
    with pytest.raises(ValueError, match="partner"):
        pair_noise(torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long), torch.arange(3))


def test_cluster_noise_rate_equals_brute_force():
    from labkit.mix import cluster_noise_rate

    g = torch.Generator().manual_seed(0)
    n, k = 60, 4
    y = torch.randint(k, (n,), generator=g)
    cl = (y + torch.randint(1, k, (n,), generator=g)) % k
    ids = torch.randint(6, (n,), generator=g)
    rate = cluster_noise_rate(ids, y, cl)
    for i in range(n):  # the definition, pair by pair
        mates = [j for j in range(n) if j != i and ids[j] == ids[i]]
        noisy = [bool(cl[i] == y[j] or cl[j] == y[i]) for j in mates]
        expected = sum(noisy) / len(mates) if mates else 0.0
        assert float(rate[i]) == pytest.approx(expected)
