"""Long-tailed counts, subsets and many/medium/few groups (docs/reference.md §4)."""
import pytest
import torch

from labkit.data import (from_arrays, load_dataset, long_tail_counts, make_long_tailed, max_ratio, shot_groups,
                         shot_thresholds)


def test_cifar10_exp_counts_match_reference():
    assert long_tail_counts(5000, 10, 100, "exp") == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]


def test_step_counts():
    assert long_tail_counts(5000, 10, 100, "step") == [5000] * 5 + [50] * 5
    assert long_tail_counts(500, 5, 10, "step") == [500, 500, 50, 50, 50]  # ⌊K/2⌋ head classes


def test_ratio_one_is_balanced_and_exp_is_non_increasing():
    assert long_tail_counts(131, 10, 1.0) == [131] * 10
    counts = long_tail_counts(131, 10, 10)
    assert counts[0] == 131 and counts[-1] == 13
    assert all(a >= b for a, b in zip(counts, counts[1:]))


@pytest.mark.parametrize("ratio", [0.5, 0, -3, float("nan"), float("inf"), "10"])
def test_bad_ratio_raises(ratio):
    with pytest.raises(ValueError, match="ratio"):
        long_tail_counts(100, 10, ratio)


def test_bad_kind_and_empty_tail_raise():
    with pytest.raises(ValueError, match="exp, step"):
        long_tail_counts(100, 10, 10, "linear")
    with pytest.raises(ValueError, match="empty"):
        long_tail_counts(100, 10, 101)


def test_make_long_tailed_counts_and_membership():
    train = load_dataset("digits")
    lt = make_long_tailed(train, 10, seed=0)
    n_max = int(train.class_counts().min())
    assert lt.class_counts().tolist() == long_tail_counts(n_max, 10, 10)
    # every kept example is an example of the original set, with its own label
    dist = torch.cdist(lt.x.flatten(1), train.x.flatten(1))
    nearest = dist.argmin(1)
    assert torch.allclose(dist.min(1).values, torch.zeros(len(lt)))
    assert torch.equal(train.y[nearest], lt.y)


def test_make_long_tailed_is_seeded_and_does_not_touch_input():
    train = load_dataset("digits")
    before = train.x.clone()
    a, b = make_long_tailed(train, 10, seed=1), make_long_tailed(train, 10, seed=1)
    c = make_long_tailed(train, 10, seed=2)
    assert torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)
    assert torch.equal(train.x, before) and len(train) == 1347


def test_make_long_tailed_validates():
    train = load_dataset("digits")
    with pytest.raises(ValueError, match="ratio"):
        make_long_tailed(train, 0.9)
    with pytest.raises(ValueError, match="n_max"):
        make_long_tailed(train, 10, n_max=10_000)
    with pytest.raises(ValueError, match="no example"):
        make_long_tailed(from_arrays(torch.zeros(4, 2), [0, 0, 2, 2]), 2)


def test_max_ratio_leaves_min_count():
    train = load_dataset("digits")
    r = max_ratio(train, min_count=3)
    assert make_long_tailed(train, r, seed=0).class_counts().min() >= 3
    assert long_tail_counts(int(train.class_counts().min()), 10, r + 1)[-1] < 3


def test_shot_groups_default_thresholds_and_partition():
    counts = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50, 19, 20, 100, 101]
    g = shot_groups(counts)
    assert g["many"] == [0, 1, 2, 3, 4, 5, 6, 7, 13]
    assert g["medium"] == [8, 9, 11, 12]
    assert g["few"] == [10]
    with pytest.raises(ValueError, match="few <= many"):
        shot_groups(counts, many=10, few=20)


def test_shot_thresholds_are_geometric_thirds():
    many, few = shot_thresholds([1000, 10])
    assert many == pytest.approx(1000 ** (2 / 3) * 10 ** (1 / 3)) == pytest.approx(215.443, rel=1e-4)
    assert few == pytest.approx(46.416, rel=1e-4)
    g = shot_groups(long_tail_counts(131, 10, 10), *shot_thresholds(long_tail_counts(131, 10, 10)))
    assert sorted(g["many"] + g["medium"] + g["few"]) == list(range(10))
    assert g["many"] and g["medium"] and g["few"]
