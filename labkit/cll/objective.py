"""``CLLObjective``: a complementary-label method as the ``loss_fn(model, batch)`` of :func:`labkit.fit`.

The batch loss is the method's ``loss(model(x), target)`` (a batch mean, see
:mod:`labkit.cll.methods`); with an augmentation (Mixup / ICM, Mai & Lin 2025) the model sees the
mixed inputs and the method the soft targets. Taught in notebooks/01_complementary_labels.ipynb.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["CLLObjective"]


class CLLObjective(nn.Module):
    """``loss_fn(model, batch)`` for :func:`labkit.fit`: a method's loss (a CLLMethod) on a batch of CL targets.

    ``batch`` is ``(x, target)``, ``(x, target, y_true)`` or ``(x, target, y_true, idx)`` (the order
    of ``DeviceLoader(x, cl, y, return_index=True)``). With ``augment`` (a callable
    ``aug(x, target, idx, y_true) -> (x_mixed, soft_target, logs)``, e.g. from
    ``labkit.mix.build_cll_augment``) the model sees the mixed inputs and the method the soft target;
    the true labels only feed the augmentation's noise measurement. ``log_risks=True`` also logs the
    partial risks ``risk_k`` and ``min_risk`` of URE methods.
    """

    def __init__(self, method: nn.Module, augment=None, *, log_risks: bool = False):
        super().__init__()
        self.method, self.augment, self.log_risks = method, augment, log_risks

    def forward(self, model: nn.Module, batch):
        x, target = batch[0], batch[1]
        logs = {}
        if self.augment is not None:
            if len(batch) < 4:
                raise ValueError("augmentation needs batches (x, target, y_true, idx): "
                                 "use DeviceLoader(x, cl, y, return_index=True)")
            x, target, logs = self.augment(x, target, batch[3], batch[2])
            logs = {} if self.method.ordinary else dict(logs)
        z = model(x)
        loss = self.method.loss(z, target)
        if self.log_risks and hasattr(self.method, "partial_risks"):
            with torch.no_grad():
                r = self.method.partial_risks(z, target)
            # Tensors, not floats: fit averages them on the device without a sync per step.
            logs.update({f"risk_{k}": v for k, v in enumerate(r)}, min_risk=r.min())
        return {"loss": loss, **logs} if logs else loss
