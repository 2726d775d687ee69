"""Simulated human annotators of complementary labels, following the CLImage collection protocol.

The real-world datasets CLCIFAR10/20 and CLMicroImageNet10/20 (Wang et al., "CLImage: human-annotated
datasets for complementary-label learning", arXiv 2305.08295) were collected by showing each image
to three annotators, each with four candidate labels drawn at random, and asking for one label the
image is NOT. Such labels are biased (some classes are picked far more often) and noisy (a few
percent of the picks are the true class). ``simulate_annotators`` reproduces that protocol on any
labelled data, so the synthetic-to-real gap can be studied offline (notebook 01).
"""
from __future__ import annotations

import numbers
from typing import NamedTuple

import torch

from .._validation import integer, labels as check_labels, non_negative, positive_int, probability, weights
from ..device import make_generator
from .transitions import empirical_transition

__all__ = ["AnnotatorLabels", "simulate_annotators"]


class AnnotatorLabels(NamedTuple):
    labels: torch.Tensor       # (N, annotators) long: one complementary label per annotator
    Q: torch.Tensor            # (K, K) empirical transition matrix counted from all labels
    candidates: torch.Tensor   # (N, annotators, candidates) long: the labels each annotator was shown


def _class_weights(bias, k: int, generator: torch.Generator) -> torch.Tensor:
    if bias is None:
        return torch.ones(k)
    if isinstance(bias, numbers.Real) and not isinstance(bias, bool):
        bias = non_negative(bias, "bias", note="a numeric bias is the spread of log class preferences")
        return torch.exp(bias * torch.randn(k, generator=generator))
    w = weights(bias, "bias", k, note="positive class weights, or a number >= 0").float()
    if bool((w <= 0).any()):
        raise ValueError(f"bias must be {k} positive class weights (or a number >= 0), got {w.tolist()}")
    return w


def simulate_annotators(y, num_classes: int, *, annotators: int = 3, candidates: int = 4,
                        error_rate: float = 0.04, bias=None, seed=None) -> AnnotatorLabels:
    """Complementary labels as the CLImage annotators gave them.

    For every example and annotator: ``candidates`` distinct labels are drawn uniformly from the K
    classes and shown; the annotator picks one that is not the true class (uniformly, or with
    probability ∝ ``bias[c]`` for a per-class weight vector; a number b draws weights
    exp(b·N(0, 1)) per class). With probability ``error_rate`` overall the annotator picks the true
    class instead, which can only happen when it is among the candidates (probability
    candidates/K), so the conditional error is error_rate·K/candidates. Every pick is among the
    candidates. Returns :class:`AnnotatorLabels` ``(labels (N, annotators), Q, candidates)``, Q
    being the empirical transition matrix: its diagonal is the noise (≈ error_rate).
    """
    num_classes = integer(num_classes, "num_classes", low=2)
    candidates = integer(candidates, "candidates", low=2, high=num_classes, note="labels shown, at most K")
    annotators = positive_int(annotators, "annotators")
    error_rate = probability(error_rate, "error_rate")
    conditional = error_rate * num_classes / candidates
    if conditional > 1:
        raise ValueError(f"error_rate {error_rate} is impossible with {candidates} of {num_classes} classes "
                         f"shown: the true class is shown only {candidates / num_classes:.0%} of the time")
    y = check_labels(y, "y", num_classes)
    if len(y) == 0:
        raise ValueError("y must hold at least one label")
    g = make_generator(seed) if not isinstance(seed, torch.Generator) else seed
    weights = _class_weights(bias, num_classes, g)
    n, k = len(y), num_classes
    rows = n * annotators
    truth = y.cpu().repeat_interleave(annotators)                                   # (rows,)
    shown = torch.rand(rows, k, generator=g).argsort(1)[:, :candidates]             # distinct, uniform
    is_true = shown == truth[:, None]
    w = weights[shown] * (~is_true)                                                  # never the true class
    pick = shown.gather(1, torch.multinomial(w, 1, generator=g)).squeeze(1)
    mistake = is_true.any(1) & (torch.rand(rows, generator=g) < conditional)
    pick = torch.where(mistake, truth, pick)
    labels = pick.view(n, annotators).to(y.device)
    Q = empirical_transition(truth, pick, k)
    return AnnotatorLabels(labels, Q, shown.view(n, annotators, candidates))
