"""The dual encoder: an image tower and a text tower, each with a projection head, meeting in one
L2-normalised embedding space with a learnable logit scale (CLIP, Radford et al. 2021; LumbarCLIP,
Le et al., arXiv 2509.20813). Taught in notebooks/05_clip_embedding_alignment.ipynb.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import integer, number, positive_int
from .encoders import ProjectionHead, build_text_encoder, build_vision_encoder, encode_texts_cached, freeze

__all__ = ["DualEncoder"]

MAX_SCALE = 100.0


class DualEncoder(nn.Module):
    """x̂ = normalise(g_img(f_img(image))), ŷ = normalise(g_txt(f_txt(report))); logits x̂ŷᵀ/τ.

    ``vision`` / ``text``: tower names (see ``list_vision_encoders``, ``list_text_encoders``) or
    built towers; ``head``: "linear" or "mlp" (:class:`ProjectionHead`) for both towers;
    ``embed_dim``: the shared space; the logit scale 1/τ, learned through its logarithm, starts at
    ``init_scale`` (1/0.07), is learned when ``learn_scale`` and is clamped to 1/τ ≤ 100 as in CLIP. ``logit_bias`` (init −10)
    is used by the sigmoid loss only. ``freeze_vision`` / ``freeze_text`` fix a tower (eval mode, no
    gradients); a frozen text tower's features are cached per distinct report.
    """

    def __init__(self, vision="cnn", text="minilm", head: str = "linear", embed_dim: int = 256, *,
                 init_scale: float = 1 / 0.07, learn_scale: bool = True, dropout: float = 0.1,
                 freeze_vision: bool = False, freeze_text: bool = False, image_size: int = 64,
                 in_chans: int = 1, pretrained: bool = False, corpus: Sequence[str] | None = None):
        super().__init__()
        embed_dim = positive_int(embed_dim, "embed_dim")
        init_scale = number(init_scale, "init_scale", low=0, high=MAX_SCALE, low_open=True,
                            note="the initial logit scale; CLIP clamps it at 100")
        if head not in ProjectionHead.KINDS:
            raise ValueError(f"unknown head {head!r}; valid heads: {', '.join(ProjectionHead.KINDS)}")
        if isinstance(vision, str):
            vision = build_vision_encoder(vision, pretrained=pretrained, in_chans=in_chans, image_size=image_size)
        if isinstance(text, str):
            text = build_text_encoder(text, corpus=corpus)
        if not hasattr(vision, "out_dim") or not hasattr(text, "out_dim"):
            raise ValueError("vision and text must be names or towers with an out_dim attribute "
                             "(see build_vision_encoder and build_text_encoder)")
        self.vision, self.text, self.head_kind = vision, text, head
        self.image_head = ProjectionHead(vision.out_dim, embed_dim, head, dropout)
        self.text_head = ProjectionHead(text.out_dim, embed_dim, head, dropout)
        t = torch.tensor(math.log(init_scale))
        if learn_scale:
            self.log_scale = nn.Parameter(t)
        else:
            self.register_buffer("log_scale", t)
        self.logit_bias = nn.Parameter(torch.tensor(-10.0))
        if freeze_vision:
            freeze(self.vision)
        if freeze_text:
            freeze(self.text)

    # ------------------------------------------------------------------ modes and parameters
    def train(self, mode: bool = True) -> "DualEncoder":
        super().train(mode)
        for tower in (self.vision, self.text):
            if getattr(tower, "frozen", False):
                tower.eval()
        return self

    def logit_scale(self) -> torch.Tensor:
        """1/τ = exp(log_scale), clamped to at most 100."""
        return self.log_scale.clamp(max=math.log(MAX_SCALE)).exp()

    def param_groups(self, lr_encoders: float, lr_heads: float) -> list[dict]:
        """Optimizer groups: trainable tower weights at ``lr_encoders``; heads, scale, bias at ``lr_heads``."""
        towers = [p for m in (self.vision, self.text) for p in m.parameters() if p.requires_grad]
        rest = [p for n, p in self.named_parameters()
                if p.requires_grad and not n.startswith(("vision.", "text."))]
        groups = [{"params": rest, "lr": lr_heads}]
        if towers:
            groups.append({"params": towers, "lr": lr_encoders})
        return groups

    # ------------------------------------------------------------------ images
    def project_images(self, images: torch.Tensor) -> torch.Tensor:
        """Raw (unnormalised) image embeddings, (B, embed_dim)."""
        if images.ndim != 4:
            raise ValueError(f"images must be (B, C, H, W), got shape {tuple(images.shape)}")
        return self.image_head(self.vision(images))

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised image embeddings x̂, (B, embed_dim)."""
        return F.normalize(self.project_images(images), dim=-1)

    # ------------------------------------------------------------------ texts
    def text_features(self, texts: Sequence[str]) -> torch.Tensor:
        """Text tower features (B, out_dim); cached per distinct text when the tower is frozen."""
        if getattr(self.text, "frozen", False):
            return encode_texts_cached(self.text, texts)
        device = next(self.text.parameters()).device
        tokens = {k: v.to(device) for k, v in self.text.tokenize(texts).items()}
        return self.text(tokens)

    def project_text_features(self, features: torch.Tensor) -> torch.Tensor:
        """Raw text embeddings from tower features (for cached features of a frozen tower)."""
        return self.text_head(features)

    def project_texts(self, texts) -> torch.Tensor:
        """Raw text embeddings from a list of strings or a dict of token tensors."""
        feats = self.text(texts) if isinstance(texts, dict) else self.text_features(texts)
        return self.text_head(feats)

    def encode_texts(self, texts) -> torch.Tensor:
        """L2-normalised text embeddings ŷ, (B, embed_dim)."""
        return F.normalize(self.project_texts(texts), dim=-1)

    def forward(self, images: torch.Tensor, texts, *, raw: bool = False):
        """Image-to-text logits x̂ŷᵀ/τ, (B_images, B_texts).

        ``texts``: strings, a dict of token tensors, or a float tensor of text-tower features (cached
        features of a frozen tower). ``raw=True`` returns the raw embeddings ``(image_emb, text_emb)``
        instead: :class:`~labkit.clip.CLIPObjective` calls the model this way, so that when the model
        is wrapped in ``DistributedDataParallel`` both towers run inside the wrapper's forward and
        their gradients are averaged over ranks.
        """
        img = self.project_images(images)
        txt = self.text_head(texts) if isinstance(texts, torch.Tensor) else self.project_texts(texts)
        if raw:
            return img, txt
        return self.logit_scale() * F.normalize(img, dim=-1) @ F.normalize(txt, dim=-1).T

    def extra_repr(self) -> str:
        return f"head={self.head_kind}, embed_dim={self.image_head.projection.out_features}"



def fit_clip(model: DualEncoder, data, *, loss: str = "soft", epochs: int = 10, batch_size: int = 64,
             lr_encoders: float = 1e-3, lr_heads: float = 1e-3, temperature: float = 1.0,
             co_positives: bool = False, val=None, prompts=None, seed: int = 0, device=None,
             progress: bool = True, callbacks=(), scheduler=None, warmup_steps: int | float = 0.1):
    """Train a :class:`DualEncoder` on paired ``data`` (``.images``/``.x`` and ``.reports``) with
    :func:`labkit.train.fit`; returns the History (``loss`` and ``scale`` per epoch).

    Distinct reports are tokenised (or, for a frozen text tower, encoded) once; batches hold images
    and report ids, so identical reports share an id (co-positives). With ``val`` (paired data) the
    epoch with the best validation zero-shot macro-F1 (``prompts`` given) or mean retrieval R@5 is
    kept and restored: selection never sees the test set. The last incomplete batch is dropped
    (a contrastive batch of one has no negatives). ``scheduler`` / ``warmup_steps`` go to
    :func:`labkit.train.fit`: ``scheduler="warmup-cosine"`` is CLIP's usual per-batch schedule
    (Radford et al. 2021: linear warm-up, then cosine decay); the default keeps the learning rate fixed.
    """
    from ..data import DeviceLoader
    from ..device import get_device
    from ..train import BestCheckpoint, fit
    from .losses import CLIPObjective

    batch_size = integer(batch_size, "batch_size", low=2, note="contrastive batches need negatives")
    device = get_device(device)
    model.to(device)
    unique = list(dict.fromkeys(data.reports))
    where = {t: i for i, t in enumerate(unique)}
    text_ids = torch.tensor([where[t] for t in data.reports])
    if getattr(model.text, "frozen", False):
        source = {"text_features": encode_texts_cached(model.text, unique).to(device)}
    else:
        source = {"text_tokens": {k: v.to(device) for k, v in model.text.tokenize(unique).items()}}
    objective = CLIPObjective(loss, temperature=temperature, co_positives=co_positives, **source)
    loader = DeviceLoader(data.x, text_ids, batch_size=batch_size, seed=seed, device=device,
                          drop_last=len(data) > batch_size)
    callbacks = list(callbacks)
    checkpoint = None
    if val is not None:
        checkpoint = BestCheckpoint(lambda m: validation_scores(m, val, prompts),
                                    key="zero_shot_macro_f1" if prompts is not None else "R@5", mode="max")
        callbacks.append(checkpoint)
    history = fit(model, loader, objective, epochs=epochs, lr=lr_heads, device=device, progress=progress,
                  callbacks=callbacks, params=model.param_groups(lr_encoders, lr_heads), scheduler=scheduler,
                  warmup_steps=warmup_steps)
    if checkpoint is not None and checkpoint.best_epoch is not None:
        checkpoint.restore(model)
        history.best_epoch = checkpoint.best_epoch
    return history


def validation_scores(model: DualEncoder, val, prompts=None) -> dict:
    """Scores for model selection on validation pairs: mean R@1/R@5 over both directions (identical
    reports co-positive) and, with ``prompts``, zero-shot accuracy and macro-F1."""
    from .evaluate import image_embeddings, retrieval_metrics, text_embeddings, zero_shot

    groups = _groups(val.reports)
    r = retrieval_metrics(image_embeddings(model, val.x), text_embeddings(model, val.reports), groups)
    out = {"R@1": (r["i2t_R@1"] + r["t2i_R@1"]) / 2, "R@5": (r["i2t_R@5"] + r["t2i_R@5"]) / 2}
    if prompts is not None:
        z = zero_shot(model, val.x, prompts, val.y)
        out.update(zero_shot_accuracy=z["accuracy"], zero_shot_macro_f1=z["macro_f1"])
    return out


def _groups(reports) -> torch.Tensor:
    ids: dict[str, int] = {}
    return torch.tensor([ids.setdefault(r, len(ids)) for r in reports])


__all__ += ["fit_clip", "validation_scores"]
