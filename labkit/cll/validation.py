"""Validation without true labels: scores computed from complementary labels only (docs/reference.md §2.5).

``scel`` (the surrogate complementary estimation loss, recommended by libcll) and ``ure`` (the
unbiased risk estimate of the cross-entropy) need only the validation split's complementary labels
and the Q they came from, so model selection stays honest in the CLL setting. Ordinary-label
accuracy on a validation split needs true labels, which a CLL user does not have: it is returned
as ``oracle_accuracy`` and must be reported as an oracle.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .methods import EPS, CLLMethod
from .transitions import check_transition, to_multi_hot

__all__ = ["cl_validation"]


@torch.no_grad()
def cl_validation(method: CLLMethod, logits: torch.Tensor, cl, Q, y=None) -> dict:
    """CL-only validation scores of a model's ``logits`` on examples with complementary labels ``cl``.

    - ``scel`` = mean −log(v_ȳ + ε), v the method's estimate of P(ȳ | x): sQ for every method except
      CPE, which supplies its own (s for cpe-i, sQ_θ for cpe-t). Lower is better.
    - ``ure`` = mean ℓ̄(x, ȳ), ℓ̄(x, ȳ) = Σ_k Q⁻¹[ȳ, k]·(−log s_k) (pseudo-inverse if Q is singular):
      an unbiased estimate of the cross-entropy risk on true labels. Lower is better.
    - ``oracle_accuracy`` (only when true labels ``y`` are given): accuracy of ``method.predict``.

    ``cl`` may be (N,), (N, m) or multi-hot (N, K); several labels per example are averaged.
    """
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        raise ValueError(f"logits must be an (N, K) tensor, got {getattr(logits, 'shape', type(logits))}")
    z = logits.float()
    k = z.shape[1]
    q = check_transition(Q, k).to(z.device)
    t = to_multi_hot(torch.as_tensor(cl).to(z.device), k)
    if len(t) != len(z):
        raise ValueError(f"cl has {len(t)} rows for {len(z)} logits")
    count = t.sum(1).clamp_min(1)
    v = method.cl_probabilities(z, q)
    scel = ((t * -torch.log(v + EPS)).sum(1) / count).mean()
    qd = q.double()
    qinv = torch.linalg.inv(qd) if torch.linalg.matrix_rank(qd) == k else torch.linalg.pinv(qd)
    lbar = -F.log_softmax(z, 1) @ qinv.float().T
    ure = ((t * lbar).sum(1) / count).mean()
    out = {"scel": float(scel), "ure": float(ure)}
    if y is not None:
        y = torch.as_tensor(y).to(z.device)
        if y.shape != (len(z),):
            raise ValueError(f"y must hold one true label per example, shape ({len(z)},), got {tuple(y.shape)}")
        out["oracle_accuracy"] = float((method.predict(z) == y).double().mean())
    return out
