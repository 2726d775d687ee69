"""One training loop for every story: ordinary, complementary, mixed and contrastive learning.

``fit(model, loader, loss_fn, epochs=..., lr=...)`` where ``loss_fn(model, batch)`` returns the
batch loss (a scalar tensor) or a dict ``{"loss": scalar, **logs}`` whose other entries are
averaged per epoch into the :class:`History`. If ``loss_fn`` is an ``nn.Module`` its parameters are
trained too (e.g. CPE-T's transition matrix); if it has ``set_epoch(epoch)`` it is called at the
start of each epoch (e.g. deferred re-weighting). Taught in notebooks/00_tour.ipynb.
"""
from __future__ import annotations

import contextlib
import copy
import math
import numbers
import time
from typing import Callable, Mapping

import torch
from torch import nn
from tqdm.auto import tqdm

from . import distributed
from ._validation import (MAX_CLASSES, finite_tensor, function, labels, non_negative, non_negative_int, number,
                          one_of, positive, positive_int)
from .data.datasets import Dataset
from .device import autocast, flush_denormals, get_device

__all__ = ["History", "BestCheckpoint", "fit", "evaluate", "predict", "logits", "embed", "warmup_cosine",
           "SCHEDULERS", "DENSE_CONFUSION_MAX"]


class History:
    """One record (a dict) per epoch: ``loss``, ``seconds``, the loss function's logs, and any
    metrics the callbacks add. ``history["loss"]`` is the list of one key over epochs."""

    def __init__(self, records=None):
        self.records: list[dict] = list(records or [])

    def append(self, record: dict) -> None:
        self.records.append(dict(record))

    def __getitem__(self, key: str) -> list:
        if not any(key in r for r in self.records):
            keys = sorted({k for r in self.records for k in r})
            raise KeyError(f"no {key!r} in this history; it has {keys}")
        return [r.get(key) for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    @property
    def last(self) -> dict:
        return self.records[-1] if self.records else {}

    def keys(self) -> list[str]:
        return list(dict.fromkeys(k for r in self.records for k in r))

    def __repr__(self) -> str:
        last = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.last.items())
        return f"History({len(self)} epochs; last: {last})"


class BestCheckpoint:
    """Callback that scores the model after every epoch and keeps the best weights.

    ``score_fn(model)`` returns a float or a dict of floats (all are logged into the epoch's record
    under ``prefix``); ``key`` names the one to select on and ``mode`` says whether lower ("min") or
    higher ("max") is better. Select on validation data, never on the test set.
    ``also`` lists more modules to snapshot with the model (e.g. a CLL method with parameters).
    ``first_epoch``: epochs before it are not candidates (not even scored), e.g. the epochs before
    a re-weighting switch. ``ties``: ``"first"`` keeps the earlier of equal scores, ``"later"`` the
    later one (a saturated validation score then keeps the most-trained model).
    """

    def __init__(self, score_fn: Callable, *, key: str | None = None, mode: str = "min",
                 prefix: str = "val_", also: tuple[nn.Module, ...] = (), first_epoch: int = 1,
                 ties: str = "first"):
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.score_fn, self.key, self.mode, self.prefix, self.also = score_fn, key, mode, prefix, tuple(also)
        self.first_epoch = positive_int(first_epoch, "first_epoch")
        self.ties = one_of(ties, "ties", ("first", "later"))
        self.best_epoch, self.best_score, self.best_scores, self._states = None, None, None, None

    def __call__(self, epoch: int, model: nn.Module, record: dict) -> None:
        if epoch < self.first_epoch:
            return
        scores = self.score_fn(model)
        if not isinstance(scores, Mapping):
            scores = {self.key or "score": float(scores)}
        scores = {k: float(v) for k, v in scores.items()}
        record.update({self.prefix + k: v for k, v in scores.items()})
        key = self.key or next(iter(scores))
        if key not in scores:
            raise KeyError(f"score_fn returned {list(scores)}, which lacks the selection key {key!r}")
        value = scores[key]
        better = self.best_score is None or (value < self.best_score if self.mode == "min" else value > self.best_score) \
            or (self.ties == "later" and value == self.best_score)
        if better and math.isfinite(value):
            self.best_epoch, self.best_score, self.best_scores = epoch, value, scores
            self._states = [copy.deepcopy(m.state_dict()) for m in (model, *self.also)]

    def restore(self, model: nn.Module) -> nn.Module:
        """Load the best weights back into ``model`` (and the ``also`` modules)."""
        if self._states is None:
            raise RuntimeError("no checkpoint was kept: the callback never saw a finite score")
        for m, state in zip((model, *self.also), self._states):
            m.load_state_dict(state)
        return model


def _optimizer(name: str, params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; valid names: adam, adamw, sgd")


SCHEDULERS = ("cosine", "warmup-cosine")
INTERVALS = ("epoch", "step")


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """The learning-rate factor of the "warmup-cosine" schedule after ``step`` optimizer steps.

    f(t) = t / W for t < W (linear warm-up), then f(t) = ½(1 + cos(π·(t − W)/(T − W))) down to 0
    at t = T (T = ``total`` steps, W = ``warmup``). Warm-up: Goyal et al. 2017; cosine decay:
    Loshchilov & Hutter 2017 (SGDR); the same formula as Hugging Face's
    ``get_cosine_schedule_with_warmup``, the usual schedule for CLIP training.
    """
    if step < warmup:
        return step / warmup
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def _warmup_steps(warmup, total: int) -> int:
    if isinstance(warmup, numbers.Integral):
        return min(non_negative_int(warmup, "warmup_steps"), total)
    fraction = number(warmup, "warmup_steps", low=0, high=1, high_open=True,
                      note="an integer number of steps or a float fraction of all steps")
    return int(round(fraction * total))


def _scheduler(spec, optimizer, epochs: int, steps_per_epoch: int, warmup, interval):
    """The scheduler and whether it steps after every batch (True) or every epoch (False)."""
    if spec is None:
        return None, False
    if isinstance(spec, str):
        one_of(spec, "scheduler", (None, *SCHEDULERS), note="or a function optimizer -> scheduler")
        fixed = "epoch" if spec == "cosine" else "step"
        if interval not in (None, fixed):
            raise ValueError(f"scheduler {spec!r} steps once per {fixed}; scheduler_interval={interval!r} "
                             "applies to a scheduler function of your own")
        if spec == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs), False
        total = epochs * steps_per_epoch
        w = _warmup_steps(warmup, total)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: warmup_cosine(t, total, w)), True
    function(spec, "scheduler", note="None, 'cosine', 'warmup-cosine' or a function optimizer -> scheduler")
    interval = one_of("epoch" if interval is None else interval, "scheduler_interval", INTERVALS)
    return spec(optimizer), interval == "step"


def _unpack(out) -> tuple[torch.Tensor, dict]:
    if isinstance(out, Mapping):
        if "loss" not in out:
            raise ValueError("a loss_fn that returns a dict must include the key 'loss'")
        return out["loss"], {k: v for k, v in out.items() if k != "loss"}
    return out, {}


class _FiniteCheck:
    """Raises FloatingPointError at the first NaN or infinite loss, naming the epoch and step.

    Reading a GPU value waits for the device, so there the first bad step is recorded on the
    device and read only every ``every`` steps; on the CPU (``every=1``) each loss is read at once.
    """

    def __init__(self, epoch: int, lr: float, every: int, steps: int, device, dtype):
        self.epoch, self.lr, self.every, self.steps = epoch, lr, every, steps
        self.step, self.value = torch.zeros((), device=device), torch.zeros((), device=device, dtype=dtype)

    def __call__(self, value: torch.Tensor, step: int) -> None:
        if self.every == 1:
            if not bool(torch.isfinite(value)):
                self._raise(step, float(value))
            return
        first = (self.step == 0) & ~torch.isfinite(value)
        self.step, self.value = torch.where(first, step, self.step), torch.where(first, value, self.value)
        if (step % self.every == 0 or step == self.steps) and int(self.step):
            self._raise(int(self.step), float(self.value))

    def _raise(self, step: int, value: float):
        raise FloatingPointError(f"the loss became {value} at epoch {self.epoch}, step {step}; try a lower lr "
                                 f"(now {self.lr}) or check the inputs for NaN")


def fit(model: nn.Module, loader, loss_fn: Callable, *, epochs: int, lr: float, optimizer: str = "adam",
        weight_decay: float = 0.0, scheduler=None, scheduler_interval: str | None = None,
        warmup_steps: int | float = 0.1, device=None, eval_data=None, amp: bool = True, progress: bool = True,
        callbacks=(), params=None, check_every: int | None = None, strategy: str = "auto") -> History:
    """Train ``model`` for ``epochs`` passes over ``loader``, minimising the mean of ``loss_fn``; returns the :class:`History`.

    ``optimizer``: "adam", "adamw" or "sgd" (momentum 0.9). ``scheduler``: None; "cosine" (stepped
    once per epoch, lr·½(1 + cos(π·e/epochs)), Loshchilov & Hutter 2017); "warmup-cosine" (stepped
    after every batch: linear warm-up over ``warmup_steps`` steps, an int, or that fraction of all
    steps, a float, then cosine to 0; see :func:`warmup_cosine`); or a function ``optimizer ->
    torch LR scheduler`` stepped once per epoch, or after every batch with
    ``scheduler_interval="step"``. ``eval_data`` (a Dataset) adds ``eval_accuracy`` to each record.
    ``callbacks``: functions ``cb(epoch, model, record)`` run after each epoch; one that returns
    True stops training. The loss and the logs are summed on the device and read once per epoch; a
    NaN or infinite loss raises FloatingPointError naming the epoch and step, checked every
    ``check_every`` steps (default: every step on CPU, where the check is free; once per epoch
    on a GPU, where each check waits for the device).

    ``strategy``: "auto" trains data-parallel exactly when the program runs under ``torchrun`` with
    several processes, "ddp" requires that (ValueError otherwise), "single" never does. Data-parallel:
    the process group is joined (NCCL on CUDA, Gloo on CPU), the model is wrapped in
    ``DistributedDataParallel`` and ``loss_fn`` receives the wrapper (call ``model(...)``; the bare
    model is ``labkit.distributed.unwrap(model)``), the loader gives each rank its share of every
    global batch (:meth:`labkit.data.DeviceLoader.shard`), only rank 0 shows progress, each epoch's
    numbers are averaged over ranks (the same History everywhere) and callbacks and ``eval_data``
    see the same model on every rank, so checkpoint choices agree. Non-finite losses are then
    caught once per epoch, on the averaged loss, so that all ranks stop together.
    """
    ddp = distributed.use_ddp(strategy)
    epochs, lr = positive_int(epochs, "epochs"), positive(lr, "lr", note="the learning rate")
    weight_decay = non_negative(weight_decay, "weight_decay")
    if len(loader) == 0:
        raise ValueError("the loader yields no batch")
    device = get_device(device) if device is not None else getattr(loader, "device", None) or get_device()
    check_every = positive_int(check_every, "check_every", note="or None") if check_every is not None \
        else 1 if device.type == "cpu" else len(loader)
    if ddp:  # the loader is checked and sharded before any rank waits for the others
        distributed.shard_loader(loader)
        device = distributed.init_process_group(device)
        distributed.share_seed(loader)
        progress = progress and distributed.is_main()
    model.to(device)
    if params is None:
        params = list(model.parameters())
        if isinstance(loss_fn, nn.Module):
            loss_fn.to(device)
            seen = {id(p) for p in params}
            params += [p for p in loss_fn.parameters() if id(p) not in seen]
    opt = _optimizer(optimizer, params, lr, weight_decay)
    net, outside = model, []
    if ddp:  # parameters outside the model (a loss function's own) are averaged by hand
        net, inside = distributed.wrap(model, device), {id(p) for p in model.parameters()}
        outside = [p for g in opt.param_groups for p in g["params"] if id(p) not in inside]
    sched, per_step = _scheduler(scheduler, opt, epochs, len(loader), warmup_steps, scheduler_interval)
    history = History()
    amp_ctx = (lambda: autocast(device)) if amp else contextlib.nullcontext
    acc = torch.float32 if device.type == "mps" else torch.float64
    # flush_denormals: late Adam steps on a CPU are up to 10x slower with denormal floats
    with flush_denormals(device.type == "cpu"), distributed.unsharded_after(loader, ddp), \
            tqdm(total=epochs * len(loader), disable=not progress, desc="training", unit="step") as bar:
        for epoch in range(1, epochs + 1):
            if hasattr(loss_fn, "set_epoch"):
                loss_fn.set_epoch(epoch)
            model.train()
            start, logs, steps = time.perf_counter(), {}, 0
            # Sums stay on the device (no host sync per step; MPS has no float64), read once per epoch.
            total = torch.zeros((), device=device, dtype=acc)
            check = _FiniteCheck(epoch, lr, check_every, len(loader), device, acc)
            for step, batch in enumerate(loader, 1):
                with amp_ctx():
                    loss, extra = _unpack(loss_fn(net, batch))
                value = loss.detach().to(acc)
                if not ddp:  # under DDP one rank alone must not stop: checked on the averaged loss
                    check(value, step)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if outside:
                    distributed.average_grads(outside)
                opt.step()
                if per_step:
                    sched.step()
                total, steps = total + value, steps + 1
                for k, v in extra.items():
                    logs[k] = logs.get(k, 0.0) + (v.detach().to(acc) if isinstance(v, torch.Tensor) else float(v))
                bar.update(1)
            if sched is not None and not per_step:
                sched.step()
            record = {"epoch": epoch, "loss": float(total) / steps, **{k: float(v) / steps for k, v in logs.items()}}
            if ddp:  # a diverged loss first: NaN weights would also fail the replica check, misleadingly
                record.update(distributed.mean_over_ranks({k: v for k, v in record.items() if k != "epoch"}))
                if not math.isfinite(record["loss"]):
                    raise FloatingPointError(f"the loss averaged over the {distributed.world()} ranks became "
                                             f"{record['loss']} in epoch {epoch}; try a lower lr (now {lr}) or "
                                             f"check the inputs for NaN")
                distributed.check_replicas(model)
            bar.set_postfix(epoch=epoch, loss=f"{record['loss']:.4f}")
            model.eval()
            if eval_data is not None:
                record["eval_accuracy"] = evaluate(model, eval_data, device=device)["accuracy"]
            stop = any([bool(cb(epoch, model, record)) for cb in callbacks])
            record["seconds"] = time.perf_counter() - start
            if ddp:
                record.update(distributed.mean_over_ranks({"seconds": record["seconds"]}))
            history.append(record)
            if stop:
                break
    model.eval()
    return history


def _inputs(data) -> torch.Tensor:
    if isinstance(data, Dataset):
        return data.x
    if isinstance(data, (tuple, list)):
        return torch.as_tensor(data[0])
    return torch.as_tensor(data)


def _model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def _batched(fn, model, data, batch_size, device):
    batch_size = positive_int(batch_size, "batch_size")
    x = _inputs(data)
    device = get_device(device) if device is not None else _model_device(model)
    model.to(device)
    was_training = model.training
    model.eval()
    try:
        with autocast(device):
            outs = [fn(x[i:i + batch_size].to(device)).float() for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(outs)


def logits(model: nn.Module, data, *, batch_size: int = 1024, device=None) -> torch.Tensor:
    """The model's outputs for every example of ``data`` (a Dataset, an (x, y) pair or x), in eval mode."""
    return _batched(model, model, data, batch_size, device)


def embed(model: nn.Module, data, *, batch_size: int = 1024, device=None) -> torch.Tensor:
    """``model.features`` of every example: the learned embedding, shape (N, feature_dim)."""
    if not hasattr(model, "features"):
        raise ValueError("embed needs a model with a .features(x) method (every labkit model has one)")
    return _batched(model.features, model, data, batch_size, device)


def predict(model: nn.Module, data, *, batch_size: int = 1024, device=None, predict_fn=None) -> torch.Tensor:
    """Predicted classes: ``predict_fn(logits)`` if given (e.g. a CLL method's decoder), else argmax."""
    z = logits(model, data, batch_size=batch_size, device=device)
    return predict_fn(z) if predict_fn is not None else z.argmax(1)


#: Above this many classes :func:`evaluate` returns the confusion matrix as a sparse tensor
#: (a dense K×K one would need K² counts: 80 GB at K = 100,000).
DENSE_CONFUSION_MAX = 4096


def evaluate(model: nn.Module, data, *, batch_size: int = 1024, device=None, predict_fn=None) -> dict:
    """Exact per-example accuracy, per-class accuracy and the confusion matrix (rows: true class).

    ``data`` is a labkit Dataset or an ``(x, y)`` pair (y: integer labels 0..K-1, K ≤ MAX_CLASSES;
    fractional or negative labels and non-finite inputs raise ValueError, a model whose outputs are
    NaN or infinite raises FloatingPointError). Accuracy counts every example once (not a mean of
    batch accuracies); a class with no example has per-class accuracy NaN. The confusion matrix is
    a dense long tensor up to :data:`DENSE_CONFUSION_MAX` classes, a sparse COO tensor above.
    """
    if isinstance(data, Dataset):
        x, y, k = data.x, data.y, data.num_classes
    else:
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise ValueError(f"data must be a labkit Dataset or an (x, y) pair, got {type(data).__name__}")
        x, y = _inputs(data), labels(data[1], "y")
        if len(x) != len(y):
            raise ValueError(f"x and y have different lengths: {len(x)} examples, {len(y)} labels")
        k = int(y.max()) + 1 if len(y) else 1
    if len(y) == 0:
        raise ValueError("data holds no example to evaluate")
    finite_tensor(x, "the inputs x")
    z = logits(model, x, batch_size=batch_size, device=device)
    if not bool(torch.isfinite(z).all()):
        bad = int((~torch.isfinite(z)).any(1).sum())
        raise FloatingPointError(f"the model's outputs are NaN or infinite for {bad} of {len(z)} examples "
                                 f"(a diverged model?); no accuracy can be computed")
    if predict_fn is not None:
        pred = torch.as_tensor(predict_fn(z))
        if pred.shape != (len(z),) or pred.dtype.is_floating_point or pred.dtype == torch.bool:
            raise ValueError(f"predict_fn must return one integer class per example, shape ({len(z)},), "
                             f"got {pred.dtype} of shape {tuple(pred.shape)}")
        if len(pred) and (int(pred.min()) < 0 or int(pred.max()) >= MAX_CLASSES):
            raise ValueError(f"predict_fn returned classes outside 0..{MAX_CLASSES - 1}: "
                             f"{int(pred.min())}..{int(pred.max())}")
        pred = pred.long()
    else:
        pred = z.argmax(1)
    y = y.to(pred.device)
    k = max(k, int(pred.max()) + 1)
    support = torch.bincount(y, minlength=k).double()
    correct = torch.bincount(y[pred == y], minlength=k).double()
    per_class = (correct / support).tolist()
    cells = y * k + pred
    if k <= DENSE_CONFUSION_MAX:
        confusion = torch.bincount(cells, minlength=k * k).reshape(k, k).cpu()
    else:
        where, counts = torch.unique(cells, return_counts=True)
        # the indices are unique and in range by construction: no invariant check needed
        confusion = torch.sparse_coo_tensor(torch.stack([where // k, where % k]), counts, (k, k),
                                            is_coalesced=True, check_invariants=False).cpu()
    return {"accuracy": float((pred == y).double().mean()), "per_class_accuracy": per_class,
            "confusion": confusion}
