"""Device choice, seeding and mixed precision: the three things every training run needs first."""
from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch

from ._validation import integer

__all__ = ["get_device", "set_seed", "autocast", "make_generator", "flush_denormals"]

_KINDS = ("cuda", "mps", "cpu")


def _available(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    return True


def get_device(prefer: str | torch.device | None = None) -> torch.device:
    """The device to run on.

    ``prefer`` (e.g. ``"cpu"``, ``"cuda:1"``) wins; otherwise the environment variable
    ``LABKIT_DEVICE``; otherwise the best available: cuda, then mps, then cpu.
    Asking for a device that is not available raises ValueError.
    """
    choice = prefer if prefer is not None else os.environ.get("LABKIT_DEVICE") or None
    if choice is None:
        return torch.device(next(k for k in _KINDS if _available(k)))
    try:
        device = torch.device(choice)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"unknown device {choice!r}; use one of {', '.join(_KINDS)}") from exc
    if device.type not in _KINDS:
        raise ValueError(f"unknown device {choice!r}; use one of {', '.join(_KINDS)}")
    if not _available(device.type):
        raise ValueError(f"device {choice!r} was asked for but is not available on this machine")
    return device


def set_seed(seed: int) -> int:
    """Seed Python's ``random``, NumPy and torch (CPU and every CUDA device); returns the seed."""
    seed = integer(seed, "seed")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds all CUDA devices
    return seed


def make_generator(seed: int | None = None, generator: torch.Generator | None = None) -> torch.Generator:
    """A CPU ``torch.Generator``: the one given, or a new one seeded with ``seed`` (random if None).

    labkit draws random numbers on the CPU generator so that the same seed gives the same result
    whatever the device; tensors are moved to the device afterwards.
    """
    if generator is not None:
        return generator
    g = torch.Generator()
    if seed is None:
        g.seed()
    else:
        g.manual_seed(integer(seed, "seed", note="or None for fresh randomness"))
    return g


def autocast(device: str | torch.device | None = None):
    """Mixed precision for a forward pass: bfloat16 autocast on CUDA when the GPU supports it,
    a no-op context elsewhere (CPU and MPS run in float32)."""
    device = torch.device(device) if device is not None else get_device()
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def flush_denormals(enabled: bool = True):
    """Flush denormal floats to zero inside the block, and turn it off again on leaving it.

    On a CPU, Adam's moment estimates decay into denormal floats late in training, which makes steps
    up to 10x slower; flushing them changes no result that matters. The setting is process-wide, so
    it is switched off again afterwards: code that runs after training sees IEEE arithmetic.
    """
    if not enabled:
        yield
        return
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
