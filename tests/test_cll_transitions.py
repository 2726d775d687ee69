"""Complementary-label generation: the Q families (docs/reference.md §2.1), sampling laws, bad input."""
import math

import pytest
import torch

from labkit.cll import (check_transition, empirical_transition, list_transitions, sample_complementary,
                        to_multi_hot, transition_matrix)

RANDOM_FAMILIES = ("weak", "strong", "noisy", "dirichlet")
FAMILIES = ("uniform", *RANDOM_FAMILIES, "biased")


@pytest.mark.parametrize("kind", FAMILIES)
@pytest.mark.parametrize("k", [4, 10, 13])
def test_every_family_is_row_stochastic_for_any_k(kind, k):
    q = transition_matrix(kind, k, seed=3)
    assert q.shape == (k, k) and q.dtype == torch.float32
    assert (q >= 0).all()
    torch.testing.assert_close(q.sum(1), torch.ones(k), rtol=0, atol=1e-6)
    if kind != "noisy":
        assert (q.diag() == 0).all()


def test_uniform_is_j_minus_i_over_k_minus_1():
    k = 7
    torch.testing.assert_close(transition_matrix("uniform", k), (torch.ones(k, k) - torch.eye(k)) / (k - 1))
    assert transition_matrix("uniform", 2).tolist() == [[0.0, 1.0], [1.0, 0.0]]


@pytest.mark.parametrize("kind,masses", [("weak", (0.45, 0.30, 0.25)), ("strong", (0.75, 0.24, 0.01))])
def test_weak_strong_have_libclls_three_bands_of_three_at_k10(kind, masses):
    q = transition_matrix(kind, 10, seed=0)
    expected = sorted([m / 3 for m in masses for _ in range(3)] + [0.0])
    for row in q:
        torch.testing.assert_close(row.sort().values, torch.tensor(expected), rtol=0, atol=1e-6)


def test_bands_for_other_k_share_the_band_mass_equally():
    q = transition_matrix("weak", 6, seed=1)  # 5 other classes -> bands of 2, 2, 1
    for row in q:
        values = sorted(row.tolist())
        assert values[0] == 0
        assert sorted(set(round(v, 6) for v in values[1:])) == sorted({0.45 / 2, 0.30 / 2, 0.25})


def test_random_families_follow_the_seed():
    for kind in RANDOM_FAMILIES:
        a, b = transition_matrix(kind, 10, seed=5), transition_matrix(kind, 10, seed=5)
        assert torch.equal(a, b)
        assert not torch.equal(a, transition_matrix(kind, 10, seed=6))


def test_noisy_is_built_from_the_same_seeds_strong():
    lam, k = 0.2, 10
    strong = transition_matrix("strong", k, seed=11)
    noisy = transition_matrix("noisy", k, seed=11, noise=lam)
    torch.testing.assert_close(noisy, (1 - lam) * strong + lam / k)
    torch.testing.assert_close(noisy.diag(), torch.full((k,), lam / k))


def test_biased_matches_the_formula():
    k, rho = 5, 10.0
    q = transition_matrix("biased", k, rho=rho)
    for y in range(k):
        w = torch.tensor([0.0 if c == y else rho ** (-c / (k - 1)) for c in range(k)])
        torch.testing.assert_close(q[y], (w / w.sum()).float())
    torch.testing.assert_close(transition_matrix("biased", k, rho=1.0), transition_matrix("uniform", k))


def test_dirichlet_concentration_moves_between_uniform_and_biased():
    k = 10
    flat = transition_matrix("dirichlet", k, seed=0, concentration=1e4)
    peaked = transition_matrix("dirichlet", k, seed=0, concentration=0.05)
    uniform = transition_matrix("uniform", k)
    assert (flat - uniform).abs().max() < 0.02
    assert peaked.max(1).values.min() > 0.4


def test_custom_is_validated_and_renormalised():
    m = torch.tensor([[0.0, 0.5, 0.5], [0.2, 0.0, 0.8], [0.5, 0.5, 0.0]])
    torch.testing.assert_close(transition_matrix("custom", 3, matrix=m.numpy()), m)
    slightly_off = m.clone()
    slightly_off[0, 1] += 5e-5
    torch.testing.assert_close(transition_matrix("custom", 3, matrix=slightly_off).sum(1), torch.ones(3))


def _tolerance(q, counts):
    # five standard deviations of a frequency estimated from n_y draws
    return 5 * torch.sqrt(q * (1 - q) / counts[:, None].clamp_min(1)) + 1e-3


@pytest.mark.parametrize("kind", FAMILIES)
def test_empirical_transition_converges_to_q_for_every_family(kind):
    k, n = 10, 200_000
    q = transition_matrix(kind, k, seed=2, noise=0.3)
    y = torch.randint(0, k, (n,), generator=torch.Generator().manual_seed(0))
    cl = sample_complementary(y, q, seed=1)
    assert cl.shape == (n,) and cl.dtype == torch.long
    counts = torch.bincount(y, minlength=k).float()
    assert ((empirical_transition(y, cl, k) - q).abs() <= _tolerance(q, counts)).all()
    if kind != "noisy":
        assert not (cl == y).any()  # a zero-probability label is never drawn
    else:
        assert (cl == y).any()


def test_custom_matrix_with_zeros_never_draws_them():
    q = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    y = torch.arange(3).repeat(1000)
    assert torch.equal(sample_complementary(y, q, seed=0), (y + 1) % 3)


def test_several_labels_are_distinct_and_follow_sequential_draws():
    k, n, m = 6, 100_000, 3
    q = transition_matrix("biased", k, rho=20.0)
    y = torch.zeros(n, dtype=torch.long)
    cl = sample_complementary(y, q, num_cl=m, seed=4)
    assert cl.shape == (n, m)
    assert (cl.sort(1).values.diff(dim=1) > 0).all()          # distinct
    assert not (cl == 0).any()                                # never the true label
    first = torch.bincount(cl[:, 0], minlength=k).float() / n
    assert ((first - q[0]).abs() <= _tolerance(q[0:1], torch.tensor([n]))[0]).all()
    # P(second = b | first = a) = Q[0, b] / (1 - Q[0, a]), renormalised after the first draw
    a = int(cl[:, 0].mode().values)
    sub = cl[cl[:, 0] == a, 1]
    expected = q[0].clone()
    expected[a] = 0
    expected /= expected.sum()
    second = torch.bincount(sub, minlength=k).float() / len(sub)
    assert ((second - expected).abs() <= 5 * torch.sqrt(expected * (1 - expected) / len(sub)) + 1e-3).all()


def test_uniform_multiple_labels_mark_each_wrong_class_equally():
    k, n, m = 10, 50_000, 4
    y = torch.randint(0, k, (n,), generator=torch.Generator().manual_seed(3))
    hot = to_multi_hot(sample_complementary(y, transition_matrix("uniform", k), num_cl=m, seed=0), k)
    rate = (hot.T @ torch.nn.functional.one_hot(y, k).float()) / torch.bincount(y, minlength=k)
    off = ~torch.eye(k, dtype=torch.bool)
    assert (rate.diag() == 0).all()
    assert ((rate[off] - m / (k - 1)).abs() < 0.03).all()


def test_random_size_sets_follow_fengs_law():
    k, n = 6, 200_000
    y = torch.randint(0, k, (n,), generator=torch.Generator().manual_seed(9))
    sets = sample_complementary(y, transition_matrix("uniform", k), num_cl=0, seed=2)
    assert sets.shape == (n, k) and sets.dtype == torch.float32
    assert not sets[torch.arange(n), y].any()
    sizes = sets.sum(1).long()
    assert sizes.min() >= 1 and sizes.max() <= k - 1
    law = torch.tensor([math.comb(k - 1, s) / (2 ** (k - 1) - 1) for s in range(1, k)])
    freq = torch.bincount(sizes, minlength=k)[1:].float() / n
    assert ((freq - law).abs() <= 5 * torch.sqrt(law * (1 - law) / n)).all()


def test_same_seed_same_labels_and_device_follows_y():
    y = torch.randint(0, 10, (500,))
    q = transition_matrix("strong", 10, seed=0)
    for num_cl in (0, 1, 3):
        a = sample_complementary(y, q, num_cl=num_cl, seed=7)
        assert torch.equal(a, sample_complementary(y, q, num_cl=num_cl, seed=7))
        assert a.device == y.device
    assert not torch.equal(sample_complementary(y, q, seed=1), sample_complementary(y, q, seed=2))


def test_empirical_transition_counts_each_label_and_leaves_absent_classes_zero():
    y = torch.tensor([0, 0, 1])
    cl = torch.tensor([[1, 2], [2, 1], [0, 2]])
    e = empirical_transition(y, cl, 3)
    torch.testing.assert_close(e, torch.tensor([[0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.0, 0.0, 0.0]]))


@pytest.mark.parametrize("bad,match", [
    (torch.ones(3, 4) / 4, "square"),
    (torch.tensor([[0.0, 1.0], [1.5, -0.5]]), "negative"),
    (torch.tensor([[0.0, 0.9], [1.0, 0.0]]), "sum to 1"),
    (torch.tensor([[1.0]]), "at least 2"),
    (torch.tensor([[0.0, float("nan")], [1.0, 0.0]]), "finite"),
])
def test_bad_matrices_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        check_transition(bad)
    with pytest.raises(ValueError, match=match):
        sample_complementary(torch.zeros(3, dtype=torch.long), bad)


def test_bad_arguments_are_refused_with_what_is_allowed():
    q = transition_matrix("uniform", 4)
    with pytest.raises(ValueError, match="valid names"):
        transition_matrix("zipf", 10)
    with pytest.raises(ValueError, match="K >= 4"):
        transition_matrix("weak", 3)
    with pytest.raises(ValueError, match=">= 2"):
        transition_matrix("uniform", 1)
    with pytest.raises(ValueError, match="matrix"):
        transition_matrix("custom", 3)
    with pytest.raises(ValueError, match="3×3"):
        transition_matrix("custom", 3, matrix=q)
    with pytest.raises(ValueError, match="noise"):
        transition_matrix("noisy", 10, noise=1.5)
    with pytest.raises(ValueError, match="concentration"):
        transition_matrix("dirichlet", 10, concentration=0)
    with pytest.raises(ValueError, match="rho"):
        transition_matrix("biased", 10, rho=-1)
    with pytest.raises(ValueError, match="num_cl"):
        sample_complementary(torch.zeros(2, dtype=torch.long), q, num_cl=4)
    with pytest.raises(ValueError, match="0..3"):
        sample_complementary(torch.tensor([0, 4]), q)
    with pytest.raises(ValueError, match="fractional"):
        sample_complementary(torch.tensor([0.5, 1.0]), q)
    with pytest.raises(ValueError, match="positive probability"):
        sample_complementary(torch.zeros(2, dtype=torch.long),
                             torch.tensor([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]]), num_cl=2)
    assert set(list_transitions()) == {*FAMILIES, "custom"}
