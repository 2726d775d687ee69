"""Contrastive losses against transformers' CLIP loss and hand computations from docs/reference.md §5."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labkit.clip.losses import clip_loss, hard_targets, siglip_loss, soft_clip_loss, soft_targets


def _hf_clip_loss():
    modeling = pytest.importorskip("transformers.models.clip.modeling_clip")
    if hasattr(modeling, "clip_loss"):  # transformers < 5
        return modeling.clip_loss
    return modeling.image_text_contrastive_loss  # transformers >= 5: same function, new name


def test_clip_loss_equals_transformers():
    hf = _hf_clip_loss()
    g = torch.Generator().manual_seed(0)
    img, txt = torch.randn(16, 8, generator=g), torch.randn(16, 8, generator=g)
    scale = 14.3
    logits_per_text = scale * F.normalize(txt, dim=-1) @ F.normalize(img, dim=-1).T
    assert torch.allclose(clip_loss(img, txt, scale), hf(logits_per_text), atol=1e-6)


def test_clip_loss_groups_all_distinct_is_plain_and_duplicates_share_mass():
    g = torch.Generator().manual_seed(1)
    img, txt = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    assert torch.allclose(clip_loss(img, txt, 5.0, groups=torch.arange(6)), clip_loss(img, txt, 5.0), atol=1e-6)
    groups = torch.tensor([0, 0, 1, 2, 3, 4])
    t = hard_targets(6, groups)
    assert torch.allclose(t[0, :2], torch.tensor([0.5, 0.5])) and torch.allclose(t.sum(1), torch.ones(6))
    # by hand: row-wise soft cross-entropy in both directions
    p = 5.0 * F.normalize(img, dim=-1) @ F.normalize(txt, dim=-1).T
    expected = 0.5 * (-(t * p.log_softmax(1)).sum(1) - (t.T * p.T.log_softmax(1)).sum(1)).mean()
    assert torch.allclose(clip_loss(img, txt, 5.0, groups=groups), expected, atol=1e-6)


def _soft_reference(I, T, tau):
    """docs/reference.md §5's soft CLIP loss with explicit loops over rows (NumPy, float64)."""
    I, T = np.asarray(I, float), np.asarray(T, float)
    L = T @ I.T / tau
    S = (I @ I.T + T @ T.T) / 2 * tau
    Y = np.exp(S) / np.exp(S).sum(1, keepdims=True)

    def ce(logits, targets):
        out = []
        for row, t in zip(logits, targets):
            logp = row - np.log(np.exp(row).sum())
            out.append(-(t * logp).sum())
        return np.array(out)

    return float(((ce(L, Y) + ce(L.T, Y.T)) / 2).mean())


def test_soft_clip_loss_2x2_by_hand():
    I = torch.eye(2)
    a = math.e / (1 + math.e)  # softmax of (1, 0)
    entropy = -(a * math.log(a) + (1 - a) * math.log(1 - a))
    # logits = targets' logits = I, so both directions give the entropy of (a, 1 - a)
    assert soft_clip_loss(I, I, 1.0) == pytest.approx(entropy, abs=1e-6)
    assert soft_clip_loss(I, I, 1.0) == pytest.approx(_soft_reference(I, I, 1.0), abs=1e-6)


def test_soft_clip_loss_3x3_unnormalised_reproduces_reference_code():
    I = torch.tensor([[1.0, 2.0, 0.0], [0.5, -1.0, 1.0], [2.0, 0.0, -0.5]])
    T = torch.tensor([[0.0, 1.0, 1.0], [1.5, 0.5, 0.0], [-1.0, 0.0, 2.0]])
    for tau in (1.0, 0.5, 2.0):
        assert soft_clip_loss(I, T, tau, normalize=False) == pytest.approx(_soft_reference(I, T, tau), abs=1e-5)
    # normalised: the same formula on unit vectors; with scale s on vectors of norm sqrt(s)
    In, Tn = F.normalize(I, dim=-1), F.normalize(T, dim=-1)
    assert soft_clip_loss(I, T, 0.5) == pytest.approx(_soft_reference(In, Tn, 0.5), abs=1e-5)
    assert soft_clip_loss(I, T, 1.0, scale=9.0) == pytest.approx(_soft_reference(3 * In, 3 * Tn, 1.0), abs=1e-5)


def test_soft_targets_give_duplicates_equal_mass_and_image_targets_do_not_sum_to_one():
    I = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # examples 0 and 1 are identical pairs
    T = torch.tensor([[1.0, 0.2], [1.0, 0.2], [0.3, 1.0]])
    Y = soft_targets(I, T, 1.0, scale=4.0)
    assert torch.allclose(Y[0, 0], Y[0, 1]) and torch.allclose(Y.sum(1), torch.ones(3))
    assert not torch.allclose(Y.T.sum(1), torch.ones(3))


def test_siglip_loss_2x2_by_hand():
    I = torch.eye(2)
    # diagonal: 10*1 - 10 = 0 -> log 2; off-diagonal: z = -1, logit -10 -> log(1 + e^-10)
    expected = (2 * math.log(2) + 2 * math.log1p(math.exp(-10))) / 2
    assert siglip_loss(I, I, 10.0, -10.0) == pytest.approx(expected, abs=1e-6)


def test_siglip_loss_3x3_from_formula():
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g)
    xn, yn = F.normalize(x, dim=-1).double(), F.normalize(y, dim=-1).double()
    total = 0.0
    for i in range(3):
        for j in range(3):
            z = 1.0 if i == j else -1.0
            total += -math.log(1 / (1 + math.exp(-z * (4.0 * float(xn[i] @ yn[j]) + 1.5))))
    assert siglip_loss(x, y, 4.0, 1.5) == pytest.approx(total / 3, abs=1e-5)


def test_losses_normalise_their_inputs():
    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    for fn in (clip_loss, soft_clip_loss, siglip_loss):
        assert torch.allclose(fn(x, y), fn(7 * x, 0.2 * y), atol=1e-5)
    assert not torch.allclose(soft_clip_loss(x, y, normalize=False), soft_clip_loss(7 * x, y, normalize=False))


def test_bad_inputs():
    x = torch.randn(4, 3)
    with pytest.raises(ValueError, match="same shape"):
        clip_loss(x, torch.randn(5, 3))
    with pytest.raises(ValueError, match="temperature"):
        soft_clip_loss(x, x, 0.0)
    with pytest.raises(ValueError, match="one id per example"):
        clip_loss(x, x, groups=torch.arange(3))


def test_soft_loss_detach_keeps_the_value_and_changes_the_gradient():
    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(4, 3, generator=g, requires_grad=True), torch.randn(4, 3, generator=g)
    a = soft_clip_loss(x, y, scale=5.0)
    b = soft_clip_loss(x, y, scale=5.0, detach_targets=True)
    assert torch.allclose(a, b)
    (ga,) = torch.autograd.grad(a, x)
    (gb,) = torch.autograd.grad(b, x)
    assert not torch.allclose(ga, gb)
