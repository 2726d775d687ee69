"""SMOTE and soft SMOTE (Chawla et al. 2002; Cheng, Mai & Lin 2023; docs/reference.md §4)."""

import pytest
import torch
from scipy import stats

from labkit.data import load_dataset, make_long_tailed
from labkit.mix import mix, oversample, sample_lambda, smote, soft_smote, soft_targets


def _toy(seed=0):
    g = torch.Generator().manual_seed(seed)
    counts = [60, 20, 6]
    x = torch.cat([torch.randn(n, 2, generator=g) + 4 * c for c, n in enumerate(counts)])
    y = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
    return x, y


def _knn_same_class(x, y, i, k):
    members = torch.nonzero(y == y[i]).flatten()
    members = members[members != i]
    d = (x[members] - x[i]).norm(dim=1)
    return set(members[d.argsort()[:k]].tolist())


def test_smote_points_lie_on_segments_to_k_nearest_same_class_neighbours():
    x, y = _toy()
    x_new, y_new, info = smote(x, y, k=3, seed=0, return_info=True)
    a, p, u = info["anchor"], info["partner"], info["u"]
    assert torch.equal(y[a], y_new) and torch.equal(y[p], y_new)  # hard labels, same class
    assert bool(((u >= 0) & (u <= 1)).all())
    assert torch.allclose(x_new, x[a] + u[:, None] * (x[p] - x[a]), atol=1e-6)
    for i in range(len(a)):
        assert int(p[i]) in _knn_same_class(x, y, int(a[i]), 3)
    # and geometrically: each point is collinear with its anchor and partner, between them
    d_ap = (x[p] - x[a]).norm(dim=1)
    assert torch.allclose((x_new - x[a]).norm(dim=1) + (x[p] - x_new).norm(dim=1), d_ap, atol=1e-5)


def test_auto_tops_every_class_up_to_the_majority():
    x, y = _toy()
    _, y_new = smote(x, y, seed=0)
    assert torch.bincount(torch.cat([y, y_new])).tolist() == [60, 60, 60]
    x_all, y_all = oversample(x, y, "smote", seed=0)
    assert torch.bincount(y_all).tolist() == [60, 60, 60] and torch.equal(x_all[:len(x)], x)


def test_dict_sampling_asks_for_totals():
    x, y = _toy()
    _, y_new = smote(x, y, sampling={1: 25, 2: 6}, seed=0)
    assert torch.bincount(y_new, minlength=3).tolist() == [0, 5, 0]
    with pytest.raises(ValueError, match="already has"):
        smote(x, y, sampling={1: 10})
    with pytest.raises(ValueError, match="classes are"):
        smote(x, y, sampling={7: 10})


def test_smote_is_seeded():
    x, y = _toy()
    assert torch.equal(smote(x, y, seed=3)[0], smote(x, y, seed=3)[0])
    assert not torch.equal(smote(x, y, seed=3)[0], smote(x, y, seed=4)[0])


def test_k_is_capped_with_a_warning_and_singletons_are_left_alone():
    x = torch.tensor([[0.0, 0], [1, 0], [2, 0], [3, 0], [10, 10], [10, 11], [20, 20]])
    y = torch.tensor([0, 0, 0, 0, 1, 1, 2])
    with pytest.warns(UserWarning) as record:
        x_new, y_new, info = smote(x, y, k=5, seed=0, return_info=True)
    messages = " ".join(str(w.message) for w in record)
    assert "capped at 1" in messages and "left alone" in messages
    assert torch.bincount(y_new, minlength=3).tolist() == [0, 2, 0]
    assert bool((x_new[:, 0] == 10).all()) and bool(((x_new[:, 1] >= 10) & (x_new[:, 1] <= 11)).all())


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_bad_k_raises(k):
    x, y = _toy()
    with pytest.raises(ValueError, match="k"):
        smote(x, y, k=k)
    with pytest.raises(ValueError, match="k"):
        soft_smote(x, y, k=k)


def test_bad_inputs_raise():
    x, y = _toy()
    with pytest.raises(ValueError, match="different lengths"):
        smote(x, y[:-1])
    with pytest.raises(ValueError, match="auto"):
        smote(x, y, sampling="minority")
    with pytest.raises(ValueError, match="minority, all"):
        soft_smote(x, y, anchors="some")
    with pytest.raises(ValueError, match="smote, soft-smote"):
        oversample(x, y, "adasyn")


def test_soft_smote_labels_sum_to_one_and_match_the_segment():
    x, y = _toy()
    x_new, t, info = soft_smote(x, y, k=4, seed=0, return_info=True)
    a, p, lam = info["anchor"], info["partner"], info["lam"]
    assert len(x_new) == (60 - 20) + (60 - 6)  # minority anchors, SMOTE's "auto" counts
    assert bool((y[a] != 0).all())
    assert torch.allclose(t.sum(1), torch.ones(len(t)))
    assert torch.allclose(x_new, lam[:, None] * x[a] + (1 - lam[:, None]) * x[p], atol=1e-6)
    eye = torch.eye(3)
    assert torch.allclose(t, lam[:, None] * eye[y[a]] + (1 - lam[:, None]) * eye[y[p]], atol=1e-6)
    # partners among the k nearest neighbours of ANY class
    for i in range(len(a)):
        d = (x - x[a[i]]).norm(dim=1)
        d[a[i]] = float("inf")
        assert int(p[i]) in set(d.argsort()[:4].tolist())
    x_all, t_all = oversample(x, y, "soft-smote", k=4, seed=0)
    assert t_all.shape == (len(x) + len(x_new), 3) and torch.equal(t_all[:len(x)], eye[y])


def test_soft_smote_with_random_partners_is_mixup_with_alpha_one():
    """Soft SMOTE, all anchors, random partners, u ~ U(0, 1) == Mixup(α = 1) (the paper's bridge)."""
    g = torch.Generator().manual_seed(0)
    n = 4000
    x, y = torch.randn(n, 3, generator=g), torch.randint(0, 4, (n,), generator=g)
    x_new, t, info = soft_smote(x, y, k=None, anchors="all", seed=1, return_info=True)
    a, p, lam = info["anchor"], info["partner"], info["lam"]
    assert torch.equal(a, torch.arange(n)) and bool((p != a).all())
    # the same points and targets as labkit's Mixup with these partners and weights
    assert torch.allclose(x_new, mix(x, p, lam), atol=1e-6)
    assert torch.allclose(t, soft_targets(y, p, lam, 4), atol=1e-6)
    # λ has Mixup's law at α = 1, Beta(1, 1) = U(0, 1): compare with Mixup's own sampler
    mixup_lam = sample_lambda(1.0, n, seed=2)
    assert stats.ks_2samp(lam.numpy(), mixup_lam.numpy()).pvalue > 1e-3
    assert stats.kstest(lam.numpy(), "uniform").pvalue > 1e-3
    # partners uniform over the other examples: partner offsets uniform on 1..n-1
    offsets = ((p - a) % n).numpy()
    assert stats.kstest(offsets / n, "uniform").pvalue > 1e-3


def test_smote_runs_on_digits_images():
    lt = make_long_tailed(load_dataset("digits"), 10, seed=0)
    x_new, y_new = smote(lt.x, lt.y, seed=0)
    assert x_new.shape[1:] == (1, 8, 8)
    assert torch.bincount(torch.cat([lt.y, y_new])).tolist() == [int(lt.class_counts().max())] * 10


def test_agrees_in_distribution_with_imbalanced_learn():
    imblearn = pytest.importorskip("imblearn.over_sampling")
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(400, 2, generator=g), torch.randn(30, 2, generator=g) * torch.tensor([1.0, 3.0]) + 5])
    y = torch.cat([torch.zeros(400, dtype=torch.long), torch.ones(30, dtype=torch.long)])
    x_new, _ = smote(x, y, k=5, seed=0)
    xr, yr = imblearn.SMOTE(k_neighbors=5, random_state=0).fit_resample(x.numpy(), y.numpy())
    theirs = xr[len(x):]
    assert len(theirs) == len(x_new) == 370
    for dim in range(2):
        assert stats.ks_2samp(x_new[:, dim].numpy(), theirs[:, dim]).pvalue > 1e-3
    # nearest-original distances have the same law too
    d_ours = torch.cdist(x_new, x[y == 1]).min(1).values.numpy()
    d_theirs = torch.cdist(torch.as_tensor(theirs, dtype=torch.float32), x[y == 1]).min(1).values.numpy()
    assert stats.ks_2samp(d_ours, d_theirs).pvalue > 1e-3


def test_smote_refuses_non_finite_points():
    from labkit.mix import smote

    x = torch.randn(20, 2)
    x[3, 1] = float("nan")
    with pytest.raises(ValueError, match="x must be finite: 1 NaN"):
        smote(x, torch.tensor([0] * 15 + [1] * 5), k=2, seed=0)
