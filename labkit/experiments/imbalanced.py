"""Story 3: long-tailed training from SMOTE to MAMix (notebook 04).

:class:`ImbalancedConfig` holds every knob; :func:`fit_imbalanced` trains one model with one
strategy; :func:`run_imbalanced` makes the data long-tailed, trains, and measures per-group
accuracy and class margins: one row per seed. Source: Cheng, Mai & Lin, TAAI 2023.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Sequence

from .. import _validation as check
from ..data import Dataset
from .config import RunConfig, check_dataset, check_name, knob, resolve_dataset
from .results import CONFIGS

__all__ = ["ImbalancedConfig", "run_imbalanced", "fit_imbalanced", "IMBALANCED_STRATEGIES", "balanced_accuracy"]

IMBALANCED_STRATEGIES = ("erm", "reweight-cb", "drw", "ldam-drw", "smote", "soft-smote", "mixup", "remix",
                         "mamix", "mixup-drw", "remix-drw", "mamix-drw")


def _check_strategy(strategy) -> str:
    if strategy not in IMBALANCED_STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; valid: {', '.join(IMBALANCED_STRATEGIES)}")
    return strategy


def _check_imbalanced_args(*, epochs, drw_epoch, lr, batch_size, weight_decay, alpha, r, kappa, tau, k) -> None:
    """Validate the training knobs up front, before any data is loaded or model trained."""
    check.positive_int(epochs, "epochs")
    check.positive_int(batch_size, "batch_size")
    check.positive_int(k, "k", note="SMOTE neighbours")
    if drw_epoch is not None:
        check.integer(drw_epoch, "drw_epoch", 0, epochs, note="the epoch the re-weighting starts, 0..epochs")
    check.positive(lr, "lr")
    check.non_negative(weight_decay, "weight_decay")
    check.positive(alpha, "alpha", note="λ ~ Beta(α, α)")
    check.number(r, "r", note="MAMix's exponent, -0.25 in the paper")
    check.number(kappa, "kappa", low=1, note="Remix's count ratio")
    check.probability(tau, "tau", note="Remix's threshold")


def balanced_accuracy(model, data) -> float:
    """Mean per-class accuracy (classes present in ``data``): the selection score on a long-tailed
    validation split, where plain accuracy would reward predicting the head."""
    from ..train import evaluate

    per_class = [a for a in evaluate(model, data)["per_class_accuracy"] if not math.isnan(a)]
    return sum(per_class) / len(per_class)


def fit_imbalanced(train: Dataset, strategy: str = "erm", *, model="mlp", epochs: int = 100, lr: float = 1e-3,
                   batch_size: int = 64, weight_decay: float = 5e-4, val: Dataset | None = None,
                   drw_epoch: int | None = None, alpha: float = 1.0, r: float = -0.25, kappa: float = 3.0,
                   tau: float = 0.5, k: int = 5, seed: int = 0, device=None, progress: bool = False):
    """Train one model on (long-tailed) ``train`` with one strategy; returns ``(model, info)``.

    ``model``: a name for :func:`labkit.build_model` or a fresh ``nn.Module``. SMOTE / soft SMOTE
    oversample once before training (``k`` neighbours); the mixing strategies mix every batch
    (λ ~ Beta(α, α), ``r`` for MAMix, ``kappa``/``tau`` for Remix); ``-drw`` strategies and
    ``drw``/``ldam-drw`` switch to class-balanced weights after ``drw_epoch`` (default 80% of the
    epochs). Adam with a cosine learning-rate schedule. With ``val`` the epoch of best balanced
    validation accuracy is kept (:func:`balanced_accuracy`). ``info``: ``history``,
    ``chosen_epoch``, ``val_balanced_accuracy``, ``counts`` (training class counts), ``seconds``.
    """
    import time

    import torch
    from torch import nn

    from ..data import DeviceLoader
    from ..device import get_device, set_seed
    from ..mix.margin import ImbalancedLoss, use_cosine_head
    from ..mix.smote import oversample
    from ..models import build_model
    from ..train import BestCheckpoint, fit

    strategy = _check_strategy(strategy)
    _check_imbalanced_args(epochs=epochs, drw_epoch=drw_epoch, lr=lr, batch_size=batch_size,
                           weight_decay=weight_decay, alpha=alpha, r=r, kappa=kappa, tau=tau, k=k)
    if drw_epoch is None:
        drw_epoch = int(0.8 * epochs)
    start = time.perf_counter()
    set_seed(seed)
    device = get_device(device)
    if device.type == "cpu":
        # Adam's second moments of rarely-updated weights decay into denormal floats, which make
        # CPU epochs up to 10x slower late in training; flushing them to zero changes nothing else.
        torch.set_flush_denormal(True)
    counts = train.class_counts()
    if isinstance(model, str):
        net = build_model(model, train.in_shape, train.num_classes)
    elif isinstance(model, nn.Module):
        net = model
    else:
        raise ValueError(f"model must be a name from list_models() or an nn.Module, got {type(model).__name__}")
    if strategy == "ldam-drw":
        use_cosine_head(net)
    x, target = train.x, train.y
    if strategy in ("smote", "soft-smote"):
        x, target = oversample(x, target, strategy, k=k, num_classes=train.num_classes, seed=seed)
    loss_kind = "erm" if strategy in ("smote", "soft-smote") else strategy
    loss_fn = ImbalancedLoss(loss_kind, counts, drw_epoch=drw_epoch, alpha=alpha, r=r, kappa=kappa, tau=tau,
                             seed=seed)
    loader = DeviceLoader(x, target, batch_size=batch_size, seed=seed, device=device)
    callbacks = []
    if val is not None:
        best = BestCheckpoint(lambda m: {"balanced_accuracy": balanced_accuracy(m, val)},
                              key="balanced_accuracy", mode="max")
        callbacks.append(best)
    history = fit(net, loader, loss_fn, epochs=epochs, lr=lr, weight_decay=weight_decay, scheduler="cosine",
                  device=device, progress=progress, callbacks=callbacks)
    info = {"history": history, "chosen_epoch": epochs, "val_balanced_accuracy": float("nan"),
            "counts": counts.tolist(), "train_size": len(x)}
    if val is not None:
        best.restore(net)
        info["chosen_epoch"], info["val_balanced_accuracy"] = best.best_epoch, best.best_score
    info["seconds"] = time.perf_counter() - start
    return net.eval(), info


def _group_mean(values: Sequence[float], classes: Sequence[int]) -> float:
    vals = [values[c] for c in classes if not math.isnan(values[c])]
    return sum(vals) / len(vals) if vals else float("nan")


def _models():
    from ..models import list_models

    return list_models()


@dataclass(frozen=True)
class ImbalancedConfig(RunConfig):
    """One long-tailed experiment (see :func:`run_imbalanced`); every field is a ``labkit imbalanced`` flag."""

    experiment = "imbalanced"
    METRICS = ("test_accuracy", "few_accuracy")
    dataset: str = knob("digits", "a name from list_datasets(), or a (train, test) pair of labkit Datasets")
    ratio: float = knob(10.0, "imbalance ratio n_max / n_min of the training set")
    kind: str = knob("exp", "long-tail profile: exp (n_c = n_max·ratio^(−c/(K−1))) or step", choices=("exp", "step"))
    strategy: str = knob("erm", "training strategy, from ERM to MAMix-DRW", choices=lambda: IMBALANCED_STRATEGIES)
    model: str = knob("mlp", "the network (labkit.list_models())", choices=_models)
    epochs: int | None = knob(None, "training epochs (none: 200, quick mode 20)")
    lr: float = knob(1e-3, "Adam's learning rate (cosine schedule)")
    batch_size: int = knob(64, "examples per step")
    weight_decay: float = knob(5e-4, "Adam's weight decay")
    val_fraction: float = knob(0.2, "share of the long-tailed training set held out for choosing the epoch")
    drw_epoch: int | None = knob(None, "epoch at which DRW switches to class-balanced weights (none: 80% of epochs)")
    alpha: float = knob(1.0, "λ ~ Beta(α, α) for the mixing strategies")
    r: float = knob(-0.25, "MAMix's exponent: m = n_i^r / (n_i^r + n_j^r)")
    kappa: float = knob(3.0, "Remix's count ratio κ")
    tau: float = knob(0.5, "Remix's threshold τ")
    k: int = knob(5, "SMOTE's number of nearest neighbours")
    seeds: tuple[int, ...] = knob((0, 1, 2), "seeds: one run (one row) per seed")

    def validate(self) -> None:
        check_dataset(self.dataset)
        _check_strategy(self.strategy)
        check.one_of(self.kind, "kind", ("exp", "step"), note="the long-tail profile")
        check_name(self.model, "model", _models())
        check.number(self.ratio, "ratio", low=1, note="n_max / n_min")
        check.open_fraction(self.val_fraction, "val_fraction")
        _check_imbalanced_args(epochs=1 if self.epochs is None else self.epochs,
                               drw_epoch=None if self.epochs is None else self.drw_epoch, lr=self.lr,
                               batch_size=self.batch_size, weight_decay=self.weight_decay, alpha=self.alpha,
                               r=self.r, kappa=self.kappa, tau=self.tau, k=self.k)
        if self.drw_epoch is not None:
            check.non_negative_int(self.drw_epoch, "drw_epoch")
        self._set("ratio", float(self.ratio))

    def resolved(self) -> "ImbalancedConfig":
        from ..config import pick

        epochs = pick(200, 20) if self.epochs is None else self.epochs
        drw = int(0.8 * epochs) if self.drw_epoch is None else self.drw_epoch
        return dataclasses.replace(self, epochs=epochs, drw_epoch=drw)


CONFIGS["imbalanced"] = ImbalancedConfig


def run_imbalanced(config: ImbalancedConfig | None = None, *, device: str | None = None, progress: bool = True,
                   **overrides: Any) -> list[dict]:
    """Long-tailed training with one strategy (SMOTE to MAMix): one row per seed.

    ``run_imbalanced(ImbalancedConfig(strategy="drw"))`` and ``run_imbalanced(strategy="drw")`` are
    the same run (keyword ``overrides`` replace fields of ``config``; checked before any data is loaded).
    Per seed: the training set is made long-tailed (:func:`labkit.data.make_long_tailed`, class 0
    the head, the examples drawn with the seed); a stratified ``val_fraction`` of THAT long-tailed
    set is held out for validation (so validation is long-tailed too, and the epoch is chosen on
    its balanced accuracy); the model is trained with ``strategy`` (see :func:`fit_imbalanced`);
    the balanced test set is left untouched. ``epochs`` defaults to pick(200, 20), ``drw_epoch`` to
    80% of the epochs (160 of 200, the package's schedule).

    Strategies: erm, reweight-cb, drw, ldam-drw, smote, soft-smote, mixup, remix, mamix, mixup-drw,
    remix-drw, mamix-drw. Row: the configuration, ``seed``, ``test_accuracy``, ``many_accuracy`` /
    ``medium_accuracy`` / ``few_accuracy`` (mean per-class test accuracy in each group; groups from
    :func:`labkit.data.shot_thresholds` of the long-tailed counts, the geometric thirds of
    [n_min, n_max], because CIFAR's 100/20 do not suit 131-example classes), ``per_class_accuracy``,
    ``margin_mean`` / ``margin_q05`` / ``margin_min`` per class and ``margin_many`` / ``margin_medium``
    / ``margin_few`` (γ = z_y − max_{j≠y} z_j on the un-augmented training split, mean over the
    group's classes) with ``margin_few_over_many`` (their ratio, free of the logit scale), ``class_counts``,
    ``chosen_epoch``, ``val_balanced_accuracy``, ``seconds``. Source: Cheng, Mai & Lin, TAAI 2023.
    """
    import time

    from ..data import make_long_tailed, shot_groups, shot_thresholds
    from ..mix.margin import class_margins
    from ..train import evaluate

    config = ImbalancedConfig.build(config, **overrides).resolved()
    train_full, test = resolve_dataset(config.dataset)
    c = config.row()
    rows = []
    for seed in config.seeds:
        start = time.perf_counter()
        lt = make_long_tailed(train_full, config.ratio, config.kind, seed=seed)
        fit_set, val = lt.split(config.val_fraction, seed=seed)
        net, info = fit_imbalanced(fit_set, config.strategy, model=config.model, epochs=config.epochs, lr=config.lr,
                                   batch_size=config.batch_size, weight_decay=config.weight_decay, val=val,
                                   drw_epoch=config.drw_epoch, alpha=config.alpha, r=config.r, kappa=config.kappa,
                                   tau=config.tau, k=config.k, seed=seed, device=device, progress=progress)
        counts = lt.class_counts().tolist()
        groups = shot_groups(counts, *shot_thresholds(counts))
        result = evaluate(net, test)
        per_class = result["per_class_accuracy"]
        margins = class_margins(net, fit_set)
        row = {**c, "seed": seed, "test_accuracy": result["accuracy"]}
        row.update({f"{g}_accuracy": _group_mean(per_class, groups[g]) for g in ("many", "medium", "few")})
        row.update({f"margin_{g}": _group_mean(margins["mean"], groups[g]) for g in ("many", "medium", "few")})
        # scale-free, so methods whose logits differ in size can be compared; NaN if the head has none
        row["margin_few_over_many"] = (row["margin_few"] / row["margin_many"] if row["margin_many"] > 0
                                       else float("nan"))
        row.update({"val_balanced_accuracy": info["val_balanced_accuracy"], "chosen_epoch": info["chosen_epoch"],
                    "per_class_accuracy": per_class, "class_counts": counts,
                    "margin_mean": margins["mean"], "margin_q05": margins["q05"], "margin_min": margins["min"],
                    "groups": groups, "seconds": time.perf_counter() - start})
        rows.append(row)
    return rows
