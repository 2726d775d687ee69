"""Array conversion at the package's boundaries (numpy and torch only, no plotting).

Shared by :mod:`labkit.plots` and :mod:`labkit.embed`, so the projection and k-NN maths need not
import plotly.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["to_numpy"]


def to_numpy(a) -> np.ndarray:
    """Tensor (any device) or array-like to a NumPy array (low-precision floats become float32)."""
    if isinstance(a, torch.Tensor):
        return a.detach().float().cpu().numpy() if a.is_floating_point() else a.detach().cpu().numpy()
    return np.asarray(a)
