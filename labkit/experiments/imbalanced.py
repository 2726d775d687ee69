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
from .config import RunConfig, check_dataset, check_name, knob, model_names as _models, resolve_dataset
from .results import CONFIGS

__all__ = ["ImbalancedConfig", "run_imbalanced", "fit_imbalanced", "IMBALANCED_STRATEGIES", "balanced_accuracy",
           "step_schedule", "sgd_step_scheduler", "SELECT", "OPTIMIZERS"]

IMBALANCED_STRATEGIES = ("erm", "reweight-cb", "drw", "ldam-drw", "smote", "soft-smote", "mixup", "remix",
                         "mamix", "mixup-drw", "remix-drw", "mamix-drw")


def _check_strategy(strategy) -> str:
    if strategy not in IMBALANCED_STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; valid: {', '.join(IMBALANCED_STRATEGIES)}")
    return strategy


SELECT = ("after-drw", "all", "last")
OPTIMIZERS = ("adam-cosine", "sgd-step")
#: (lr, weight decay) of each optimiser when not given: labkit's Adam, the package's SGD
OPTIMIZER_DEFAULTS = {"adam-cosine": (1e-3, 5e-4), "sgd-step": (0.1, 2e-4)}


def _check_imbalanced_args(*, epochs, drw_epoch, lr, batch_size, weight_decay, alpha, r, kappa, tau, k,
                           select=None, optimizer="adam-cosine", lam_per="example", loss_norm="weights") -> None:
    """Validate the training knobs up front, before any data is loaded or model trained."""
    from ..mix.margin import LAM_PER, LOSS_NORMS

    check.positive_int(epochs, "epochs")
    check.positive_int(batch_size, "batch_size")
    check.positive_int(k, "k", note="SMOTE neighbours")
    if drw_epoch is not None:
        check.integer(drw_epoch, "drw_epoch", 0, epochs, note="the epoch the re-weighting starts, 0..epochs")
    if lr is not None:
        check.positive(lr, "lr")
    if weight_decay is not None:
        check.non_negative(weight_decay, "weight_decay")
    check.positive(alpha, "alpha", note="λ ~ Beta(α, α)")
    check.number(r, "r", note="MAMix's exponent, -0.25 in the paper")
    check.number(kappa, "kappa", low=1, note="Remix's count ratio")
    check.probability(tau, "tau", note="Remix's threshold")
    check.one_of(select, "select", (None, *SELECT), note="which epoch is reported")
    check.one_of(optimizer, "optimizer", OPTIMIZERS, note="labkit's Adam + cosine or the package's SGD + steps")
    check.one_of(lam_per, "lam_per", LAM_PER)
    check.one_of(loss_norm, "loss_norm", LOSS_NORMS)


def balanced_accuracy(model, data) -> float:
    """Mean per-class accuracy (classes present in ``data``): the selection score on a long-tailed
    validation split, where plain accuracy would reward predicting the head."""
    from ..train import evaluate

    per_class = [a for a in evaluate(model, data)["per_class_accuracy"] if not math.isnan(a)]
    return sum(per_class) / len(per_class)


def step_schedule(epoch: int, epochs: int, warmup: int = 5) -> float:
    """The imbalanced-DL package's learning-rate factor in (1-based) ``epoch`` of ``epochs``:

    e/W for e ≤ W (linear warm-up, W = 5), then 1, ×0.01 after 80% of the epochs and ×0.0001
    after 90% (epochs 161–180 and 181–200 of 200: the package's 200-epoch scheme, scaled here to
    any number of epochs). Multiply by the base lr (0.1 in the package).
    """
    epoch, epochs = check.positive_int(epoch, "epoch"), check.positive_int(epochs, "epochs")
    warmup = min(check.non_negative_int(warmup, "warmup"), epochs)
    if epoch <= warmup:
        return epoch / warmup
    if epoch > int(0.9 * epochs):
        return 1e-4
    if epoch > int(0.8 * epochs):
        return 1e-2
    return 1.0


def sgd_step_scheduler(epochs: int, warmup: int = 5):
    """``optimizer -> LambdaLR`` following :func:`step_schedule`, for ``fit(scheduler=...,
    scheduler_interval="epoch")``: fit steps it after each epoch, so epoch e trains at factor
    ``step_schedule(e, epochs)``."""
    import torch

    return lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda t: step_schedule(t + 1, epochs, warmup))


def fit_imbalanced(train: Dataset, strategy: str = "erm", *, model="mlp", epochs: int = 100, lr: float | None = None,
                   batch_size: int = 64, weight_decay: float | None = None, val: Dataset | None = None,
                   drw_epoch: int | None = None, alpha: float = 1.0, r: float = -0.25, kappa: float = 3.0,
                   tau: float = 0.5, k: int = 5, select: str | None = None, optimizer: str = "adam-cosine",
                   lam_per: str = "example", loss_norm: str = "weights", report: Dataset | None = None,
                   seed: int = 0, device=None, progress: bool = False):
    """Train one model on (long-tailed) ``train`` with one strategy; returns ``(model, info)``.

    ``model``: a name for :func:`labkit.build_model` or a fresh ``nn.Module``. SMOTE / soft SMOTE
    oversample once before training (``k`` neighbours); the mixing strategies mix every batch
    (λ ~ Beta(α, α), one per example or per batch: ``lam_per``; ``r`` for MAMix, ``kappa``/``tau``
    for Remix); ``-drw`` strategies and ``drw``/``ldam-drw`` switch to class-balanced weights after
    ``drw_epoch`` (default 80% of the epochs), the re-weighted loss divided by the sum of the
    weights or by the batch size (``loss_norm``; see :class:`labkit.mix.ImbalancedLoss`).

    ``optimizer``: ``"adam-cosine"`` (labkit: Adam, cosine decay per epoch; lr 1e-3, weight decay
    5e-4 unless given) or ``"sgd-step"`` (the imbalanced-DL package: SGD with momentum 0.9, lr 0.1,
    weight decay 2e-4, :func:`step_schedule`). ``select``: which epoch's weights are returned —
    ``"after-drw"`` (the best balanced validation accuracy, :func:`balanced_accuracy`, among the
    epochs after the re-weighting switch, drw_epoch + 1 … epochs, for every strategy, ties to the
    later epoch), ``"all"`` (the best over all epochs, ties to the first: labkit's former rule,
    which on a saturating validation score picks a "-DRW" model before the switch), ``"last"``.
    Default: ``"after-drw"`` with ``val``, ``"last"`` without. ``report``: a Dataset on which the
    LAST epoch's model is evaluated before the chosen weights are restored (``info["last"]``), so
    the last epoch can be shown beside the selected one. ``info``: ``history``, ``chosen_epoch``,
    ``val_balanced_accuracy``, ``counts`` (training class counts), ``train_size``, ``last``,
    ``seconds``.
    """
    import time

    from torch import nn

    from ..data import DeviceLoader
    from ..device import get_device, set_seed
    from ..mix.margin import ImbalancedLoss, use_cosine_head
    from ..mix.smote import oversample
    from ..models import build_model
    from ..train import BestCheckpoint, evaluate, fit

    strategy = _check_strategy(strategy)
    _check_imbalanced_args(epochs=epochs, drw_epoch=drw_epoch, lr=lr, batch_size=batch_size,
                           weight_decay=weight_decay, alpha=alpha, r=r, kappa=kappa, tau=tau, k=k, select=select,
                           optimizer=optimizer, lam_per=lam_per, loss_norm=loss_norm)
    if select is None:
        select = "after-drw" if val is not None else "last"
    if select != "last" and val is None:
        raise ValueError(f"select={select!r} chooses the epoch on validation data: pass val, or select='last'")
    if drw_epoch is None:
        drw_epoch = int(0.8 * epochs)
    lr = OPTIMIZER_DEFAULTS[optimizer][0] if lr is None else lr
    weight_decay = OPTIMIZER_DEFAULTS[optimizer][1] if weight_decay is None else weight_decay
    start = time.perf_counter()
    set_seed(seed)
    device = get_device(device)
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
                             lam_per=lam_per, loss_norm=loss_norm, seed=seed)
    loader = DeviceLoader(x, target, batch_size=batch_size, seed=seed, device=device)
    callbacks = []
    if select != "last":
        first = 1 if select == "all" else min(drw_epoch + 1, epochs)
        selector = BestCheckpoint(lambda m: {"balanced_accuracy": balanced_accuracy(m, val)},
                                  key="balanced_accuracy", mode="max", first_epoch=first,
                                  ties="first" if select == "all" else "later")
        callbacks.append(selector)
    if optimizer == "sgd-step":
        opt_kw = dict(optimizer="sgd", scheduler=sgd_step_scheduler(epochs), scheduler_interval="epoch")
    else:
        opt_kw = dict(optimizer="adam", scheduler="cosine")
    history = fit(net, loader, loss_fn, epochs=epochs, lr=lr, weight_decay=weight_decay, device=device,
                  progress=progress, callbacks=callbacks, **opt_kw)
    info = {"history": history, "chosen_epoch": epochs, "val_balanced_accuracy": float("nan"),
            "counts": counts.tolist(), "train_size": len(x), "select": select,
            "last": evaluate(net, report) if report is not None else None}
    if select != "last":
        selector.restore(net)
        info["chosen_epoch"], info["val_balanced_accuracy"] = selector.best_epoch, selector.best_score
    elif val is not None:
        info["val_balanced_accuracy"] = balanced_accuracy(net, val)
    info["seconds"] = time.perf_counter() - start
    return net.eval(), info


def _group_mean(values: Sequence[float], classes: Sequence[int]) -> float:
    vals = [values[c] for c in classes if not math.isnan(values[c])]
    return sum(vals) / len(vals) if vals else float("nan")


@dataclass(frozen=True)
class ImbalancedConfig(RunConfig):
    """One long-tailed experiment (see :func:`run_imbalanced`); every field is a ``labkit imbalanced`` flag."""

    experiment = "imbalanced"
    METRICS = ("test_accuracy", "few_accuracy")
    PRESETS = {
        "package": ("the imbalanced-DL package's protocol as far as digits allow: SGD 0.1 with 5-epoch warm-up and "
                    "lr x0.01 / x0.0001 after 80% / 90% of 200 epochs, DRW from epoch 161, one λ per batch, loss "
                    "divided by the batch size, last epoch reported (no validation split; batch 64, not 128, "
                    "on about 1,000 training digits)",
                    dict(optimizer="sgd-step", epochs=200, drw_epoch=160, lam_per="batch", loss_norm="batch",
                         val_fraction=0.0, select="last")),
        "labkit-old": ("labkit's selection before the faithful protocol, for comparison: the best validation epoch "
                       "over ALL epochs, ties to the first (a '-DRW' model is then usually taken before the switch)",
                       dict(select="all")),
        "last-epoch": ("the defaults, reporting the last epoch on the whole long-tailed training set "
                       "(no validation split)", dict(val_fraction=0.0, select="last")),
    }
    dataset: str = knob("digits", "a name from list_datasets(), or a (train, test) pair of labkit Datasets")
    ratio: float = knob(10.0, "imbalance ratio n_max / n_min of the training set")
    kind: str = knob("exp", "long-tail profile: exp (n_c = n_max·ratio^(−c/(K−1))) or step", choices=("exp", "step"))
    strategy: str = knob("erm", "training strategy, from ERM to MAMix-DRW", choices=lambda: IMBALANCED_STRATEGIES)
    model: str = knob("mlp", "the network (labkit.list_models())", choices=_models)
    epochs: int | None = knob(None, "training epochs (none: 200, quick mode 20)")
    optimizer: str = knob("adam-cosine", "adam-cosine (labkit: Adam, cosine decay) or sgd-step (the package: SGD "
                          "momentum 0.9, 5-epoch warm-up, lr x0.01 after 80% and x0.0001 after 90% of the epochs)",
                          choices=OPTIMIZERS)
    lr: float | None = knob(None, "learning rate (none: 1e-3 for adam-cosine, 0.1 for sgd-step)")
    batch_size: int = knob(64, "examples per step")
    weight_decay: float | None = knob(None, "weight decay (none: 5e-4 for adam-cosine, 2e-4 for sgd-step)")
    val_fraction: float = knob(0.2, "share of the long-tailed training set held out for choosing the epoch "
                               "(0: no validation split, the last epoch is reported)")
    select: str | None = knob(None, "reported epoch: after-drw (best balanced validation accuracy among the epochs "
                              "after the DRW switch, ties to the later; every strategy), all (best over all epochs, "
                              "ties to the first), last (none: after-drw, or last when val_fraction is 0)",
                              choices=SELECT)
    drw_epoch: int | None = knob(None, "epoch after which DRW uses class-balanced weights (none: 80% of epochs)")
    alpha: float = knob(1.0, "λ ~ Beta(α, α) for the mixing strategies")
    lam_per: str = knob("example", "one λ per example (labkit) or per batch (the package)",
                        choices=("example", "batch"))
    loss_norm: str = knob("weights", "re-weighted loss divided by the sum of the weights (labkit) or by the batch "
                          "size (the package)", choices=("weights", "batch"))
    r: float = knob(-0.25, "MAMix's exponent: m = n_i^r / (n_i^r + n_j^r)")
    kappa: float = knob(3.0, "Remix's count ratio κ")
    tau: float = knob(0.5, "Remix's threshold θ (τ in the Remix paper)")
    k: int = knob(5, "SMOTE's number of nearest neighbours")
    seeds: tuple[int, ...] = knob((0, 1, 2, 3, 4), "seeds: one run (one row) per seed")

    def validate(self) -> None:
        check_dataset(self.dataset)
        _check_strategy(self.strategy)
        check.one_of(self.kind, "kind", ("exp", "step"), note="the long-tail profile")
        check_name(self.model, "model", _models())
        check.number(self.ratio, "ratio", low=1, note="n_max / n_min")
        check.number(self.val_fraction, "val_fraction", low=0, high=1, high_open=True,
                     note="0 (no validation: report the last epoch) or a fraction below 1")
        _check_imbalanced_args(epochs=1 if self.epochs is None else self.epochs,
                               drw_epoch=None if self.epochs is None else self.drw_epoch, lr=self.lr,
                               batch_size=self.batch_size, weight_decay=self.weight_decay, alpha=self.alpha,
                               r=self.r, kappa=self.kappa, tau=self.tau, k=self.k, select=self.select,
                               optimizer=self.optimizer, lam_per=self.lam_per, loss_norm=self.loss_norm)
        if self.val_fraction == 0 and self.select not in (None, "last"):
            raise ValueError(f"select={self.select!r} chooses the epoch on validation data, but val_fraction=0 "
                             "holds none out: use select='last' or a val_fraction above 0")
        if self.drw_epoch is not None:
            check.non_negative_int(self.drw_epoch, "drw_epoch")
        self._set("ratio", float(self.ratio))
        self._set("val_fraction", float(self.val_fraction))

    def resolved(self) -> "ImbalancedConfig":
        from ..config import pick

        epochs = pick(200, 20) if self.epochs is None else self.epochs
        drw = int(0.8 * epochs) if self.drw_epoch is None else self.drw_epoch
        select = self.select or ("after-drw" if self.val_fraction > 0 else "last")
        lr, wd = OPTIMIZER_DEFAULTS[self.optimizer]
        return dataclasses.replace(self, epochs=epochs, drw_epoch=drw, select=select,
                                   lr=lr if self.lr is None else self.lr,
                                   weight_decay=wd if self.weight_decay is None else self.weight_decay)


CONFIGS["imbalanced"] = ImbalancedConfig


def run_imbalanced(config: ImbalancedConfig | None = None, *, device: str | None = None, progress: bool = True,
                   save_embeddings=None, **overrides: Any) -> list[dict]:
    """Long-tailed training with one strategy (SMOTE to MAMix): one row per seed.

    ``run_imbalanced(ImbalancedConfig(strategy="drw"))`` and ``run_imbalanced(strategy="drw")`` are
    the same run (keyword ``overrides`` replace fields of ``config``; checked before any data is loaded).
    Per seed: the training set is made long-tailed (:func:`labkit.data.make_long_tailed`, class 0
    the head, the examples drawn with the seed); a stratified ``val_fraction`` of THAT long-tailed
    set is held out for validation (so validation is long-tailed too; ``val_fraction=0`` holds
    nothing out and reports the last epoch); the model is trained with ``strategy`` on the rest
    (see :func:`fit_imbalanced`); the reported epoch is chosen by ``select`` (default: the best
    balanced validation accuracy among the epochs after the DRW switch, for every strategy, ties to
    the later epoch); the balanced test set is left untouched. ``epochs`` defaults to pick(200, 20),
    ``drw_epoch`` to 80% of the epochs (160 of 200, the package's schedule).

    Strategies: erm, reweight-cb, drw, ldam-drw, smote, soft-smote, mixup, remix, mamix, mixup-drw,
    remix-drw, mamix-drw. Row: the configuration (defaults resolved), ``seed``, ``test_accuracy``,
    ``many_accuracy`` / ``medium_accuracy`` / ``few_accuracy`` (mean per-class test accuracy in each
    group; groups from :func:`labkit.data.shot_thresholds` of the training counts, the geometric
    thirds of [n_min, n_max], because CIFAR's 100/20 do not suit 131-example classes), the same for
    the last epoch (``last_test_accuracy``, ``last_few_accuracy``, ...), ``per_class_accuracy``,
    ``margin_mean`` / ``margin_q05`` / ``margin_min`` per class and ``margin_many`` / ``margin_medium``
    / ``margin_few`` (γ = z_y − max_{j≠y} z_j on the un-augmented training split, mean over the
    group's classes) with ``margin_few_over_many`` (their ratio, free of the logit scale),
    ``class_counts`` (the counts the model trained on, AFTER the validation split),
    ``long_tailed_counts`` (before it), ``chosen_epoch``, ``val_balanced_accuracy``, ``seconds``.
    Source: Cheng, Mai & Lin, TAAI 2023. ``save_embeddings``: a folder where each seed writes the test
    set's features, predictions and shot groups for ``labkit explore`` (:mod:`labkit.app.folder`).
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
        fit_set, val = lt.split(config.val_fraction, seed=seed) if config.val_fraction > 0 else (lt, None)
        net, info = fit_imbalanced(fit_set, config.strategy, model=config.model, epochs=config.epochs, lr=config.lr,
                                   batch_size=config.batch_size, weight_decay=config.weight_decay, val=val,
                                   drw_epoch=config.drw_epoch, alpha=config.alpha, r=config.r, kappa=config.kappa,
                                   tau=config.tau, k=config.k, select=config.select, optimizer=config.optimizer,
                                   lam_per=config.lam_per, loss_norm=config.loss_norm, report=test, seed=seed,
                                   device=device, progress=progress)
        counts = fit_set.class_counts().tolist()
        groups = shot_groups(counts, *shot_thresholds(counts))
        result = evaluate(net, test)
        per_class, last = result["per_class_accuracy"], info["last"]["per_class_accuracy"]
        margins = class_margins(net, fit_set)
        row = {**c, "seed": seed, "test_accuracy": result["accuracy"]}
        row.update({f"{g}_accuracy": _group_mean(per_class, groups[g]) for g in ("many", "medium", "few")})
        row["last_test_accuracy"] = info["last"]["accuracy"]
        row.update({f"last_{g}_accuracy": _group_mean(last, groups[g]) for g in ("many", "medium", "few")})
        row.update({f"margin_{g}": _group_mean(margins["mean"], groups[g]) for g in ("many", "medium", "few")})
        # scale-free, so methods whose logits differ in size can be compared; NaN if the head has none
        row["margin_few_over_many"] = (row["margin_few"] / row["margin_many"] if row["margin_many"] > 0
                                       else float("nan"))
        row.update({"val_balanced_accuracy": info["val_balanced_accuracy"], "chosen_epoch": info["chosen_epoch"],
                    "per_class_accuracy": per_class, "class_counts": counts,
                    "long_tailed_counts": lt.class_counts().tolist(),
                    "margin_mean": margins["mean"], "margin_q05": margins["q05"], "margin_min": margins["min"],
                    "groups": groups, "seconds": time.perf_counter() - start})
        rows.append(row)
        if save_embeddings is not None:
            from ..app.record import save_classifier_run

            group_of = {int(cls): g for g, members in groups.items() for cls in members}
            labels = test.y.tolist()
            extra = {"group": [group_of.get(y, "") for y in labels],
                     "training examples of the class": [float(counts[y]) for y in labels]}
            save_classifier_run(save_embeddings, "imbalanced", c, seed, net, test, device=device, extra=extra,
                                keys=("dataset", "strategy"), metrics={k: row[k] for k in ImbalancedConfig.METRICS})
    return rows
