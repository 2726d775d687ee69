"""Contrastive image-text losses as pure functions of the two embeddings (docs/reference.md §5.2).

``clip_loss`` (hard targets: InfoNCE of CLIP, Radford et al. 2021), ``soft_clip_loss`` (the soft
targets of the widely copied simple PyTorch CLIP re-implementation, the "soft CLIP loss" that
LumbarCLIP uses), ``siglip_loss`` (pairwise sigmoid, Zhai et al. 2023). Every loss takes RAW
embeddings (B, D) and L2-normalises them itself (the soft loss unless ``normalize=False``) and
returns the batch mean. :class:`CLIPObjective` wraps them as a ``loss_fn`` for
:func:`labkit.train.fit`. Taught in notebooks/05_clip_embedding_alignment.ipynb.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import distributed
from .._validation import positive

__all__ = ["clip_loss", "soft_clip_loss", "siglip_loss", "hard_targets", "soft_targets", "LOSSES",
           "CLIPObjective"]


def _pair(image_emb: torch.Tensor, text_emb: torch.Tensor) -> None:
    if image_emb.ndim != 2 or text_emb.ndim != 2 or image_emb.shape != text_emb.shape:
        raise ValueError("image_emb and text_emb must both be (B, D) with the same shape, got "
                         f"{tuple(image_emb.shape)} and {tuple(text_emb.shape)}")


def _same_group(groups: torch.Tensor | None, b: int, device) -> torch.Tensor:
    """(B, B) float matrix with 1 where examples i and j are positives of each other."""
    if groups is None:
        return torch.eye(b, device=device)
    groups = torch.as_tensor(groups, device=device)
    if groups.shape != (b,):
        raise ValueError(f"groups must hold one id per example, shape ({b},), got {tuple(groups.shape)}")
    return (groups[:, None] == groups[None, :]).float()


def hard_targets(b: int, groups=None, device=None) -> torch.Tensor:
    """CLIP's targets: the identity, or with ``groups`` each row spread evenly over its co-positives
    (identical reports), 𝒯_ij = [report_i = report_j] / #{k: report_k = report_i}."""
    same = _same_group(groups, b, device)
    return same / same.sum(1, keepdim=True)


def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, scale=1 / 0.07, *, groups=None) -> torch.Tensor:
    """Symmetric InfoNCE: P = X̂Ŷᵀ/τ (``scale`` = 1/τ), loss = ½[CE(P, 𝒯) + CE(Pᵀ, 𝒯ᵀ)] with 𝒯 the identity
    (equal to Hugging Face transformers' CLIP contrastive loss on the same logits).

    ``groups`` (one id per example, equal ids for identical reports) makes co-positives share the
    target mass instead of being pushed apart. Radford et al. 2021, "Learning Transferable Visual
    Models From Natural Language Supervision".
    """
    _pair(image_emb, text_emb)
    x, y = F.normalize(image_emb, dim=-1), F.normalize(text_emb, dim=-1)
    logits = scale * x @ y.T
    if groups is None:
        target = torch.arange(len(x), device=x.device)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
    t = hard_targets(len(x), groups, x.device)
    return 0.5 * (_soft_ce(logits, t) + _soft_ce(logits.T, t.T)).mean()


def _soft_ce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Row-wise cross-entropy with soft targets: −Σ_j 𝒯_ij log softmax(P)_ij, shape (B,)."""
    return -(targets * F.log_softmax(logits, dim=-1)).sum(-1)


def _soft_inputs(image_emb, text_emb, normalize, scale):
    if not normalize:
        return image_emb, text_emb
    root = torch.as_tensor(scale, dtype=image_emb.dtype, device=image_emb.device).sqrt()
    return F.normalize(image_emb, dim=-1) * root, F.normalize(text_emb, dim=-1) * root


def soft_targets(image_emb: torch.Tensor, text_emb: torch.Tensor, temperature: float = 1.0,
                 normalize: bool = True, scale=1.0) -> torch.Tensor:
    """The soft CLIP targets 𝒯 = softmax((X̂X̂ᵀ + ŶŶᵀ)/2 · ζ) row-wise (note: ζ, ``temperature``, MULTIPLIES
    here); with ``normalize`` the embeddings are unit vectors times √``scale`` (√(1/τ))."""
    _pair(image_emb, text_emb)
    i, t = _soft_inputs(image_emb, text_emb, normalize, scale)
    return F.softmax((i @ i.T + t @ t.T) / 2 * temperature, dim=-1)


def soft_clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, temperature: float = 1.0,
                   normalize: bool = True, scale=1.0, detach_targets: bool = False) -> torch.Tensor:
    """Soft-target CLIP loss: P = ŶX̂ᵀ/ζ (text × image), 𝒯 = softmax((X̂X̂ᵀ + ŶŶᵀ)/2·ζ) row-wise,
    loss = mean_i ½[CE(P, 𝒯)_i + CE(Pᵀ, 𝒯ᵀ)_i] with row-wise soft cross-entropy; ζ is ``temperature``.

    With ``normalize`` (default) X̂ and Ŷ are L2-normalised and then multiplied by √``scale`` (√(1/τ)),
    so every similarity is cosine/τ in both the logits and the targets. ``scale`` = 1 is the formula on
    unit vectors; its logits then lie in [−1/ζ, 1/ζ] and the targets are nearly uniform, so it barely
    trains. The re-implementation's unnormalised LayerNorm outputs have norms near √D, i.e. a
    large implicit scale: labkit's training passes the model's learnable logit scale 1/τ.
    ``detach_targets=True`` stops gradients through 𝒯 (the re-implementation lets them flow).

    Two texts (or images) that are identical get equal target mass, so duplicate templated reports
    are not pushed apart. ``normalize=False`` reproduces the simple PyTorch CLIP re-implementation
    (M. Shariatnia, "OpenAI-CLIP", 2021) exactly, quirks included: it never normalises, ζ multiplies
    the targets, the image-direction targets 𝒯ᵀ rows do not sum to 1, the targets are not detached,
    and the loss has a non-zero floor (the targets' entropy). LumbarCLIP (arXiv 2509.20813) trains
    with a soft CLIP loss on normalised embeddings.
    """
    _pair(image_emb, text_emb)
    temperature = positive(temperature, "temperature", note="the fixed temperature zeta of the soft loss")
    i, t = _soft_inputs(image_emb, text_emb, normalize, scale)
    logits = t @ i.T / temperature
    targets = F.softmax((i @ i.T + t @ t.T) / 2 * temperature, dim=-1)
    if detach_targets:
        targets = targets.detach()
    texts_loss = _soft_ce(logits, targets)
    images_loss = _soft_ce(logits.T, targets.T)
    return ((images_loss + texts_loss) / 2).mean()


def siglip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, scale=10.0, bias=-10.0, *,
                groups=None) -> torch.Tensor:
    """Pairwise sigmoid loss: −(1/B) Σ_i Σ_j log σ(z_ij (x̂_i·ŷ_j/τ + b)), z = +1 for a matching pair
    (the diagonal, or the same ``groups`` id), −1 otherwise. Zhai et al. 2023, "Sigmoid Loss for
    Language Image Pre-Training" (init 1/τ = 10, b = −10; ``scale`` = 1/τ)."""
    _pair(image_emb, text_emb)
    x, y = F.normalize(image_emb, dim=-1), F.normalize(text_emb, dim=-1)
    z = 2 * _same_group(groups, len(x), x.device) - 1
    logits = scale * x @ y.T + bias
    return -F.logsigmoid(z * logits).sum() / len(x)


LOSSES = {"hard": clip_loss, "soft": soft_clip_loss, "sigmoid": siglip_loss}


class CLIPObjective:
    """``loss_fn(model, batch)`` for :func:`labkit.train.fit` on a :class:`~labkit.clip.DualEncoder`.

    A batch is ``(images, text_ids)``: ``text_ids`` index a table of the distinct reports, either
    cached tower features ``text_features`` (N_text, D_text) for a frozen text tower, or
    ``text_tokens`` (``input_ids``, ``attention_mask``) for a trainable one. Equal ids are identical
    reports: with ``co_positives=True`` the hard and sigmoid losses treat them as positives.
    Every loss uses the model's learnable logit scale 1/τ (``sigmoid`` also its bias); ``soft`` also
    takes the fixed ``temperature`` ζ of its formula (default 1).

    Data-parallel (``fit`` under ``torchrun``): the model is called through its forward (the DDP
    wrapper's), each rank's image and text embeddings and report ids are gathered from all ranks
    (:func:`labkit.distributed.gather_with_grad`), so the loss is that of the global batch, with the
    same negatives as on one device, and :func:`labkit.distributed.scale_local_grad` makes DDP's
    gradient average equal the one-device gradient.
    """

    def __init__(self, loss: str = "soft", *, text_features: torch.Tensor | None = None,
                 text_tokens: dict | None = None, temperature: float = 1.0, co_positives: bool = False,
                 detach_targets: bool = False):
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; valid names: {', '.join(LOSSES)}")
        if (text_features is None) == (text_tokens is None):
            raise ValueError("give exactly one of text_features (frozen text tower) or text_tokens (trainable)")
        temperature = positive(temperature, "temperature", note="the fixed temperature zeta of the soft loss")
        self.loss, self.temperature, self.co_positives = loss, temperature, co_positives
        self.detach_targets = detach_targets
        self.text_features, self.text_tokens = text_features, text_tokens

    def embeddings(self, model, images: torch.Tensor, text_ids: torch.Tensor):
        """Raw (unnormalised) image and text embeddings of this process's batch, through ``model(..., raw=True)``."""
        if self.text_features is not None:
            texts = self.text_features[text_ids.to(self.text_features.device)]
        else:
            ids = self.text_tokens["input_ids"][text_ids]
            mask = self.text_tokens["attention_mask"][text_ids]
            width = int(mask.sum(1).max())  # drop padding columns no example in the batch uses
            texts = {"input_ids": ids[:, :width], "attention_mask": mask[:, :width]}
        return model(images, texts, raw=True)

    def __call__(self, model, batch) -> dict:
        images, text_ids = batch[0], batch[1]
        img, txt = self.embeddings(model, images, text_ids)
        wrapped = distributed.is_wrapped(model)
        if wrapped:  # data-parallel: the global batch, every rank's pairs are negatives of every other
            img, txt = (distributed.gather_with_grad(distributed.scale_local_grad(z)) for z in (img, txt))
            text_ids = distributed.gather(text_ids)
        model = distributed.unwrap(model)
        groups = text_ids if self.co_positives else None
        if self.loss == "hard":
            value = clip_loss(img, txt, model.logit_scale(), groups=groups)
        elif self.loss == "sigmoid":
            value = siglip_loss(img, txt, model.logit_scale(), model.logit_bias, groups=groups)
        else:
            value = soft_clip_loss(img, txt, self.temperature, scale=model.logit_scale(),
                                   detach_targets=self.detach_targets)
        return {"loss": value, "scale": float(model.logit_scale().detach())}
