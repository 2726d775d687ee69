"""Small linear-algebra helpers shared by several stories (torch only, no plotting).

``pca`` is the one principal-component projection of the package: the ICM cluster features
(:func:`labkit.mix.cluster_features`) and the 2-D maps (:func:`labkit.embed.project_2d`) both use it.
"""
from __future__ import annotations

import torch

from ._validation import positive_int

__all__ = ["pca"]


def pca(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Projection of the rows of ``x`` (N, D) on the top ``dim`` principal axes, (N, min(dim, D)).

    The axes are the eigenvectors of the covariance Σ = X̃ᵀX̃/(N − 1) of the centred data X̃, in
    decreasing order of eigenvalue (computed in float64); each axis's sign is fixed so that its
    largest loading is positive, which makes the result deterministic. Pearson (1901).
    """
    dim = positive_int(dim, "dim", note="the number of principal axes")
    x = x.reshape(len(x), -1)
    x = x.float() if not x.is_floating_point() else x
    x = x - x.mean(0)
    cov = (x.T.double() @ x.double()) / max(len(x) - 1, 1)
    _, vecs = torch.linalg.eigh(cov)
    vecs = vecs.flip(1)[:, :min(dim, x.shape[1])]
    sign = torch.sign(vecs.gather(0, vecs.abs().argmax(0, keepdim=True)))
    sign[sign == 0] = 1
    return x @ (vecs * sign).to(x.dtype)
