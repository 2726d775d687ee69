"""Long-tailed datasets: class-count profiles, long-tailed subsets, and many/medium/few groups.

Counts follow Cao et al. 2019 (LDAM-DRW) and the imbalanced-DL package (Cheng, Mai & Lin,
"From SMOTE to Mixup for deep imbalanced classification", TAAI 2023), docs/reference.md §4:

- ``exp``:  n_c = ⌊n_max · ratio^(−c/(K−1))⌋, c = 0..K−1 (class 0 is the head);
- ``step``: the first ⌊K/2⌋ classes get n_max, the others ⌊n_max / ratio⌋.

Only the training set is made long-tailed; the test set stays balanced so that every class counts
equally in the reported accuracy. Taught in notebooks/04_smote_to_mixup_margins.ipynb.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from .._validation import number, positive_int
from ..device import make_generator
from .datasets import Dataset

__all__ = ["long_tail_counts", "make_long_tailed", "shot_groups", "shot_thresholds", "max_ratio",
           "KINDS"]

KINDS = ("exp", "step")


def _check_ratio(ratio) -> float:
    return number(ratio, "ratio", low=1, note="the imbalance n_max / n_min")


def _check_kind(kind) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown long-tail kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    return kind


def long_tail_counts(n_max: int, num_classes: int, ratio: float, kind: str = "exp") -> list[int]:
    """Per-class counts of a long-tailed set, head first (docs/reference.md §4).

    ``exp``: n_c = ⌊n_max · ratio^(−c/(K−1))⌋; ``step``: ⌊K/2⌋ classes of n_max, the rest
    ⌊n_max/ratio⌋. CIFAR-10, n_max 5000, ratio 100, exp →
    [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]. A ratio that would leave a class empty
    (ratio > n_max) raises ValueError. Source: Cao et al. 2019; Cheng, Mai & Lin 2023.
    """
    n_max = positive_int(n_max, "n_max")
    k = positive_int(num_classes, "num_classes")
    ratio, kind = _check_ratio(ratio), _check_kind(kind)
    if ratio > n_max:
        raise ValueError(f"ratio {ratio:g} > n_max {n_max} would leave the rarest class empty; "
                         f"use a ratio <= {n_max}")
    if kind == "exp":
        # The tiny tolerance keeps exact products (5000 · 100^-1 = 50) from flooring to 49.
        raw = [n_max * ratio ** (-c / (k - 1)) if k > 1 else n_max for c in range(k)]
        counts = [int(math.floor(v + 1e-9 * max(v, 1.0))) for v in raw]
    else:
        tail = int(math.floor(n_max / ratio + 1e-9))
        counts = [n_max if c < k // 2 else tail for c in range(k)]
    return [max(c, 1) for c in counts]


def max_ratio(dataset: Dataset, min_count: int = 1) -> float:
    """The largest ratio for which :func:`make_long_tailed` leaves ``min_count`` examples in the
    rarest class: ⌊n_max / min_count⌋ with n_max the smallest available class count."""
    min_count = positive_int(min_count, "min_count")
    n_max = int(dataset.class_counts().min())
    if n_max < min_count:
        raise ValueError(f"the smallest class has {n_max} examples, fewer than min_count={min_count}")
    return float(n_max // min_count)


def make_long_tailed(dataset: Dataset, ratio: float, kind: str = "exp", seed: int | None = None, *,
                     n_max: int | None = None) -> Dataset:
    """A long-tailed subset of ``dataset`` (class 0 the head), counts from :func:`long_tail_counts`.

    ``n_max`` (the head's count) defaults to the SMALLEST available class count, so that every
    class c gets exactly n_c examples and the profile is exact (on digits: 131). Which examples of
    each class are kept is drawn with ``seed`` (None: fresh randomness). Apply it to the training
    set only; the test set stays balanced. The subset keeps per-example side data.
    Source: Cao et al. 2019 (LDAM-DRW); the CIFAR-LT protocol of imbalanced-DL.
    """
    if not isinstance(dataset, Dataset):
        raise ValueError(f"make_long_tailed needs a labkit Dataset, got {type(dataset).__name__}")
    ratio, kind = _check_ratio(ratio), _check_kind(kind)
    available = dataset.class_counts()
    if int(available.min()) < 1:
        empty = [c for c in range(dataset.num_classes) if int(available[c]) == 0]
        raise ValueError(f"classes {empty} have no example; every class needs at least one")
    limit = int(available.min())
    if n_max is None:
        n_max = limit
    n_max = positive_int(n_max, "n_max")
    if n_max > limit:
        raise ValueError(f"n_max={n_max} exceeds the smallest class count {limit}; use n_max <= {limit}")
    counts = long_tail_counts(n_max, dataset.num_classes, ratio, kind)
    g = make_generator(seed)
    y = dataset.y.cpu()
    keep = []
    for c, n_c in enumerate(counts):
        members = torch.nonzero(y == c).flatten()
        keep.append(members[torch.randperm(len(members), generator=g)[:n_c]])
    keep = torch.sort(torch.cat(keep)).values
    out = dataset.subset(keep)
    out.name = f"{dataset.name}-lt{ratio:g}"
    return out


def shot_thresholds(counts: Sequence[int] | torch.Tensor) -> tuple[float, float]:
    """``(many, few)`` thresholds for small data: the geometric thirds of [n_min, n_max].

    many = n_max^(2/3)·n_min^(1/3), few = n_max^(1/3)·n_min^(2/3). For an exp profile this puts about
    a third of the classes in each group, whereas the CIFAR thresholds (100, 20) would put all of a
    131-example digits head in "medium". Long-tailed digits, ratio 10: (61.3, 28.2).
    """
    counts = [int(c) for c in (counts.tolist() if isinstance(counts, torch.Tensor) else counts)]
    if not counts or min(counts) < 1:
        raise ValueError(f"counts must be a non-empty list of positive integers, got {counts}")
    hi, lo = float(max(counts)), float(min(counts))
    return hi ** (2 / 3) * lo ** (1 / 3), hi ** (1 / 3) * lo ** (2 / 3)


def shot_groups(counts: Sequence[int] | torch.Tensor, many: float = 100, few: float = 20) -> dict[str, list[int]]:
    """Class indices in the many-shot (n_c > many), medium-shot (few ≤ n_c ≤ many) and few-shot
    (n_c < few) groups. Defaults are the CIFAR-100-LT / ImageNet-LT convention (Liu et al. 2019);
    for small data pass :func:`shot_thresholds` (``shot_groups(c, *shot_thresholds(c))``)."""
    counts = [int(c) for c in (counts.tolist() if isinstance(counts, torch.Tensor) else counts)]
    if not counts or min(counts) < 0:
        raise ValueError(f"counts must be a non-empty list of non-negative integers, got {counts}")
    few, many = number(few, "few", low=0), number(many, "many", low=0, finite=False)
    if not few <= many:
        raise ValueError(f"thresholds must satisfy few <= many, got few={few}, many={many}")
    return {"many": [c for c, n in enumerate(counts) if n > many],
            "medium": [c for c, n in enumerate(counts) if few <= n <= many],
            "few": [c for c, n in enumerate(counts) if n < few]}
