"""Classifiers by name: ``build_model("cnn", (1, 8, 8), 10)``.

Every model is a :class:`Classifier`: ``features(x)`` is the penultimate embedding (what UMAP plots
and k-means clusters) and ``head`` the final linear layer, so ``forward(x) = head(features(x))``.
Registry: ``linear``, ``mlp``, ``cnn`` (small conv net for 8x8 to 32x32 images), ``resnet18`` and
``resnet32`` (CIFAR-style ResNets, He et al. 2016); :func:`register_model` adds your own, which
``build_model`` and every experiment then accept. Taught in notebooks/00_tour.ipynb.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from ._validation import function, integer, number, positive_int, registry_name

__all__ = ["Classifier", "build_model", "list_models", "register_model"]


class Classifier(nn.Module):
    """``body`` maps inputs to a ``feature_dim`` embedding; ``head`` maps it to logits."""

    def __init__(self, body: nn.Module, feature_dim: int, num_classes: int):
        super().__init__()
        self.body, self.feature_dim, self.num_classes = body, feature_dim, num_classes
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate embedding, shape (B, feature_dim)."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _linear(in_shape, num_classes):
    return Classifier(nn.Flatten(), math.prod(in_shape), num_classes)


def _mlp(in_shape, num_classes, hidden: int = 256, depth: int = 2, dropout: float = 0.0):
    """``depth`` blocks Linear(hidden) → ReLU (→ Dropout), on the flattened input."""
    hidden, depth = positive_int(hidden, "hidden", note="mlp"), positive_int(depth, "depth", note="mlp")
    dropout = number(dropout, "dropout", low=0, high=1, high_open=True, note="mlp")
    layers, width = [nn.Flatten()], math.prod(in_shape)
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = hidden
    return Classifier(nn.Sequential(*layers), hidden, num_classes)


def _conv_bn(c_in, c_out, stride=1):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


def _cnn(in_shape, num_classes, width: int = 32):
    """Three conv blocks (width, 2*width, 4*width), one 2x2 pooling, global average pooling."""
    if len(in_shape) != 3:
        raise ValueError(f"cnn needs images shaped (C, H, W), got in_shape={tuple(in_shape)}")
    width = positive_int(width, "width", note="cnn")
    c = in_shape[0]
    body = nn.Sequential(
        _conv_bn(c, width), _conv_bn(width, 2 * width), nn.MaxPool2d(2),
        _conv_bn(2 * width, 4 * width), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return Classifier(body, 4 * width, num_classes)


class _BasicBlock(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


def _resnet(in_shape, num_classes, widths, blocks):
    if len(in_shape) != 3:
        raise ValueError(f"resnets need images shaped (C, H, W), got in_shape={tuple(in_shape)}")
    layers, c = [_conv_bn(in_shape[0], widths[0])], widths[0]  # 3x3 stem, no max-pool (CIFAR)
    for i, (w, n) in enumerate(zip(widths, blocks)):
        for j in range(n):
            layers.append(_BasicBlock(c, w, 2 if (j == 0 and i > 0) else 1))
            c = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return Classifier(nn.Sequential(*layers), c, num_classes)


def _resnet18(in_shape, num_classes):
    """ResNet-18 for small images: four stages of two blocks, 64-512 channels."""
    return _resnet(in_shape, num_classes, (64, 128, 256, 512), (2, 2, 2, 2))


def _resnet32(in_shape, num_classes):
    """ResNet-32 (He et al. 2016, CIFAR): three stages of five blocks, 16/32/64 channels."""
    return _resnet(in_shape, num_classes, (16, 32, 64), (5, 5, 5))


_REGISTRY: dict[str, Callable[..., Classifier]] = {
    "linear": _linear, "mlp": _mlp, "cnn": _cnn, "resnet18": _resnet18, "resnet32": _resnet32,
}


def list_models() -> list[str]:
    """Names accepted by :func:`build_model`: the built-in models, then those added with
    :func:`register_model`."""
    return list(_REGISTRY)


def register_model(name: str, builder: Callable[..., nn.Module], *, overwrite: bool = False) -> None:
    """Add a model under ``name`` so that :func:`build_model` builds it and :func:`list_models` lists it.

    ``builder(in_shape, num_classes, **options)`` returns the network; return a :class:`Classifier`
    (``Classifier(body, feature_dim, num_classes)``) so that ``.features(x)``, the embedding that
    UMAP plots and k-means clusters, works too. ``name`` is lower-case and hyphenated (``"my-mlp"``);
    a name already taken raises ValueError unless ``overwrite=True``.
    """
    registry_name(name, "model", _REGISTRY, overwrite=overwrite)
    _REGISTRY[name] = function(builder, "builder", note="builder(in_shape, num_classes, **options) -> nn.Module")


def build_model(name: str, in_shape, num_classes: int, **kw) -> Classifier:
    """Build a classifier from its registry name for inputs of shape ``in_shape`` (one example,
    e.g. ``(1, 8, 8)``): ``build_model("cnn", (1, 8, 8), 10)``.

    Options: ``mlp(hidden=256, depth=2, dropout=0)``, ``cnn(width=32)``; a registered model takes
    the options its builder accepts.
    """
    if not isinstance(name, str) or name.lower() not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(_REGISTRY)}")
    in_shape = tuple(int(d) for d in in_shape)
    if not in_shape or any(d < 1 for d in in_shape):
        raise ValueError(f"in_shape must be the shape of one example, got {in_shape}")
    num_classes = integer(num_classes, "num_classes", low=2)
    try:
        model = _REGISTRY[name.lower()](in_shape, num_classes, **kw)
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise ValueError(f"model {name!r} does not take these options: {exc}") from None
        raise
    if not isinstance(model, nn.Module):
        raise ValueError(f"the builder registered as {name!r} returned {type(model).__name__}, not an nn.Module")
    return model
