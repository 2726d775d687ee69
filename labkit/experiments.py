"""One function per story, each returning rows of results (one dict per seed).

``run_cll`` (complementary labels, with Mixup / ICM as options), ``run_imbalanced`` (long-tailed
data, SMOTE to MAMix) and ``run_clip`` (image-report alignment). ``summarize(rows)`` reduces rows to
mean ± std per configuration; ``save_rows`` writes CSV or JSON. The ``labkit`` command line
(:mod:`labkit.cli`) is built from these signatures: every keyword argument is a flag.
Results are data: select on validation, report mean ± std over seeds, never tune on test.
"""
from __future__ import annotations

import csv
import inspect
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

from .data import Dataset, load_dataset

__all__ = ["run_cll", "run_imbalanced", "fit_imbalanced", "IMBALANCED_STRATEGIES", "run_clip", "summarize", "save_rows", "format_table", "resolve_dataset"]


# ------------------------------------------------------------------------------ shared helpers

def resolve_dataset(dataset, **kw) -> tuple[Dataset, Dataset]:
    """``(train, test)`` from a dataset name (see ``list_datasets()``) or a ``(train, test)`` pair."""
    if isinstance(dataset, str):
        return load_dataset(dataset, "train", **kw), load_dataset(dataset, "test", **kw)
    if (isinstance(dataset, (tuple, list)) and len(dataset) == 2
            and all(isinstance(d, Dataset) for d in dataset)):
        train, test = dataset
        if train.num_classes != test.num_classes or train.in_shape != test.in_shape:
            raise ValueError("train and test must have the same classes and example shape")
        return train, test
    raise ValueError("dataset must be a name from list_datasets() or a (train, test) pair of labkit Datasets")


def check_seeds(seeds) -> tuple[int, ...]:
    """Seeds as a non-empty tuple of ints (a single int is accepted)."""
    if isinstance(seeds, int):
        seeds = (seeds,)
    seeds = tuple(seeds)
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ValueError(f"seeds must be a non-empty sequence of integers, got {seeds!r}")
    return seeds


_NOT_CONFIG = {"seed", "seeds", "device", "progress", "dataset_kw"}


def _config_keys(rows: Sequence[dict]) -> list[str]:
    """Configuration columns: the parameters of the run function that made the rows."""
    runners = {"cll": run_cll, "imbalanced": run_imbalanced, "clip": run_clip}
    fn = runners.get(rows[0].get("experiment"))
    params = set(inspect.signature(fn).parameters) if fn else set()
    keys = [k for k in rows[0] if (k in params or k == "experiment") and k not in _NOT_CONFIG]
    if not fn:  # rows from elsewhere: every non-numeric column is configuration
        keys = [k for k, v in rows[0].items() if not isinstance(v, (int, float)) and k not in _NOT_CONFIG]
    return keys


def summarize(rows: Sequence[dict], by: Sequence[str] | None = None,
              metrics: Sequence[str] | None = None) -> list[dict]:
    """Mean and standard deviation (over seeds) of every metric, one row per configuration.

    ``by``: the configuration columns (default: the run function's parameters present in the rows);
    ``metrics``: the numeric columns to reduce (default: every other int/float column).
    Output columns: the ``by`` columns, ``n`` (number of runs), then ``<metric>`` (mean) and
    ``<metric>_std`` (sample standard deviation; 0 for one run).
    """
    rows = list(rows)
    if not rows:
        raise ValueError("summarize got no rows")
    by = list(by) if by is not None else _config_keys(rows)
    if metrics is None:
        metrics = [k for k, v in rows[0].items()
                   if k not in by and k not in _NOT_CONFIG and isinstance(v, (int, float))
                   and not isinstance(v, bool)]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(_hashable(r.get(k)) for k in by), []).append(r)
    out = []
    for key, members in groups.items():
        summary = dict(zip(by, key))
        summary["n"] = len(members)
        for m in metrics:
            values = [float(r[m]) for r in members if isinstance(r.get(m), (int, float))]
            values = [v for v in values if not math.isnan(v)]
            mean = sum(values) / len(values) if values else float("nan")
            var = sum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.0
            summary[m], summary[f"{m}_std"] = mean, math.sqrt(var)
        out.append(summary)
    return out


def _hashable(v):
    return tuple(v) if isinstance(v, list) else v


def format_table(summary: Sequence[dict], metrics: Sequence[str] | None = None, digits: int = 3) -> str:
    """A plain-text table of ``summarize`` output with ``mean ± std`` cells."""
    if not summary:
        return "(no rows)"
    cols = [k for k in summary[0] if not k.endswith("_std")]
    if metrics is not None:
        cols = [k for k in cols if k not in _metric_names(summary[0]) or k in metrics]

    def cell(r, k):
        v = r.get(k)
        if f"{k}_std" in r and isinstance(v, float):
            return f"{v:.{digits}f} ± {r[f'{k}_std']:.{digits}f}"
        return f"{v:.{digits}g}" if isinstance(v, float) else str(v)

    table = [[k for k in cols]] + [[cell(r, k) for k in cols] for r in summary]
    widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _metric_names(row: dict) -> set[str]:
    return {k[:-4] for k in row if k.endswith("_std")}


def save_rows(rows: Iterable[dict], path: str | Path) -> Path:
    """Write rows to ``.csv`` or ``.json`` atomically (a temporary file renamed into place)."""
    path = Path(path)
    rows = list(rows)
    if path.suffix not in (".csv", ".json"):
        raise ValueError(f"output must end in .csv or .json, got {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            if path.suffix == ".json":
                json.dump(rows, f, indent=2, default=_jsonable)
            else:
                fields = list(dict.fromkeys(k for r in rows for k in r))
                writer = csv.DictWriter(f, fieldnames=fields)
                writer.writeheader()
                for r in rows:
                    writer.writerow({k: _csv_cell(v) for k, v in r.items()})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _jsonable(v):
    if hasattr(v, "tolist"):
        return v.tolist()
    return str(v)


def _csv_cell(v):
    if isinstance(v, (list, tuple, dict)) or hasattr(v, "tolist"):
        return json.dumps(v, default=_jsonable)
    return v


# ============================================================== story 1 and 2: complementary labels
# (run_cll: owned by the CLL core work; Mixup / ICM options by the ICM work)

CLL_SELECT = {"scel": ("scel", "min"), "ure": ("ure", "min"), "oracle-accuracy": ("oracle_accuracy", "max")}
CLL_AUGMENTS = ("mixup", "icm", "micm", "mixup-oracle")
CLL_EPOCHS = (100, 20)  # default epochs (full, quick)
CLL_REAL_WORLD = ("annotators", "human")  # label sources beside the Q families (issue 8)
CLL_ANNOTATORS = 3  # the CLImage protocol: three annotators per image


def run_cll(*, dataset: str = "digits", method: str = "scl-nl", transition: str = "uniform", num_cl: int = 1,
            model: str = "mlp", epochs: int | None = None, lr: float = 1e-3, batch_size: int = 256,
            seeds: Sequence[int] = (0, 1, 2), val_fraction: float = 0.1, select: str = "scel",
            weight_decay: float = 1e-4, noise: float = 0.1, concentration: float = 1.0, rho: float = 10.0,
            annotator_error: float = 0.04, annotator_candidates: int = 4, annotator_bias: float = 0.0,
            imbalance_ratio: float = 1.0, augment: str | None = None, alpha: float = 0.2,
            mix_prob: float = 1.0, weighting: str = "input", clusters: int = 50, cluster_method: str = "pca",
            device: str | None = None, progress: bool = True) -> list[dict]:
    """Complementary-label learning on one dataset: train, select on CL-only validation, test; one row per seed.

    For each seed: the training set (made long-tailed with ``make_long_tailed(..., kind="exp")`` when
    ``imbalance_ratio`` > 1; the test set stays balanced) is split into train/validation
    (``val_fraction``, stratified); Q = ``transition_matrix(transition, K, seed=seed, noise=...,
    concentration=..., rho=...)`` (``transition`` may also be a K×K matrix: "custom"); ``num_cl``
    complementary labels per example are drawn from that SAME Q for both splits (0: a random-size
    set); ``make_method(method, K, Q=Q, class_prior=...)`` is trained with Adam (``lr``,
    ``weight_decay``) for ``epochs`` (None: 100, quick mode 20), optionally with Mixup / ICM / MICM
    (``augment``, ``alpha``, ``mix_prob``, ``weighting``, ``clusters``, ``cluster_method``; see
    labkit.mix). The epoch kept is the best on validation by ``select``: "scel" or "ure" (CL-only) or
    "oracle-accuracy" (needs true validation labels: an oracle). The test set's true labels are used
    only to report exact per-example accuracy.

    Real-world complementary labels (REFERENCE.md §1.1 has the synthetic ones):

    - ``transition="annotators"``: the CLImage collection protocol simulated on any dataset
      (:func:`labkit.cll.simulate_annotators`): three annotators per example, each shown
      ``annotator_candidates`` random labels, picks one that is not the true class, except with
      probability ``annotator_error`` overall (the true class); ``annotator_bias`` > 0 draws class
      preferences exp(bias·N(0, 1)) once per seed, shared by both splits (0: unbiased). The first
      ``num_cl`` (1..3) of the three labels are used. Validation labels are simulated the same way,
      from the same seeded stream, right after the training ones.
    - a real-world dataset (``"clcifar10"``, ``"clcifar20"``, ``"clmicro-imagenet10"``,
      ``"clmicro-imagenet20"``, read from ``data_dir()/climage``, i.e. ``$LABKIT_DATA/climage``; or a
      ``(train, test)`` pair whose train is a :class:`labkit.data.CLDataset`): its human labels are
      used instead of sampling (the first ``num_cl`` of the annotators'); ``transition`` must be left
      at its default or be ``"human"``, and rows record ``"human"``.

    In both cases Q (handed to the Q-dependent methods and to CL-only validation) is the EMPIRICAL
    transition matrix of the training split, counted from all three labels per example WITH THE TRUE
    LABELS, as libcll does for the real-world datasets: P(ȳ | y) is not known for human labels, and
    its diagonal (the annotation noise) is not zero. Several labels per example become a set (a
    label given twice counts once).

    ``dataset``: a name from ``list_datasets()`` or a ``(train, test)`` pair of labkit Datasets.
    Row columns: ``experiment``, the configuration, ``seed``, ``test_accuracy`` (chosen epoch),
    ``chosen_epoch``, ``val_scel``, ``val_ure``, ``val_oracle_accuracy`` (at the chosen epoch),
    ``final_test_accuracy``, ``final_val_scel``, ``final_val_oracle_accuracy`` (last epoch),
    ``seconds``, and with ``augment`` the per-epoch means of the measured noise (``pair_noise``, ...).
    """
    from .cll import list_methods, list_transitions, transition_matrix
    from .config import pick
    from .models import list_models

    if not isinstance(method, str) or method.lower() not in list_methods():
        raise ValueError(f"unknown method {method!r}; valid names: {', '.join(list_methods())}")
    custom = None
    if not isinstance(transition, str):
        custom, transition = transition, "custom"
    if transition not in list_transitions() and transition not in CLL_REAL_WORLD:
        raise ValueError(f"unknown transition {transition!r}; valid names: "
                         f"{', '.join(list_transitions() + list(CLL_REAL_WORLD))} (or pass a K×K matrix)")
    _check_annotator_args(transition, num_cl, annotator_error, annotator_candidates, annotator_bias)
    if select not in CLL_SELECT:
        raise ValueError(f"select must be one of {', '.join(CLL_SELECT)}, got {select!r}")
    if model not in list_models():
        raise ValueError(f"unknown model {model!r}; valid names: {', '.join(list_models())}")
    if augment is not None and augment not in CLL_AUGMENTS:
        raise ValueError(f"augment must be None or one of {', '.join(CLL_AUGMENTS)}, got {augment!r}")
    if epochs is None:
        epochs = pick(*CLL_EPOCHS)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction}")
    if not imbalance_ratio >= 1:
        raise ValueError(f"imbalance_ratio must be >= 1 (1: balanced), got {imbalance_ratio}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    seeds = check_seeds(seeds)
    train, test = resolve_dataset(dataset)
    k = train.num_classes
    transition = _check_label_source(train, transition, num_cl, annotator_error, annotator_candidates)
    if transition not in CLL_REAL_WORLD:
        transition_matrix(transition, k, seed=0, noise=noise, concentration=concentration, rho=rho, matrix=custom)
    if isinstance(num_cl, bool) or not isinstance(num_cl, int) or not 0 <= num_cl < k:
        raise ValueError(f"num_cl must be an integer in 0..{k - 1} (0: a random-size set), got {num_cl!r}")
    config = {"dataset": dataset if isinstance(dataset, str) else train.name, "method": method.lower(),
              "transition": transition, "num_cl": num_cl, "model": model, "epochs": epochs, "lr": lr,
              "batch_size": batch_size, "val_fraction": val_fraction, "select": select,
              "weight_decay": weight_decay, "noise": noise, "concentration": concentration, "rho": rho,
              "annotator_error": annotator_error, "annotator_candidates": annotator_candidates,
              "annotator_bias": annotator_bias, "imbalance_ratio": imbalance_ratio, "augment": augment, "alpha": alpha, "mix_prob": mix_prob,
              "weighting": weighting, "clusters": clusters, "cluster_method": cluster_method}
    return [_cll_seed(train, test, seed, config, custom, device, progress) for seed in seeds]


def _check_annotator_args(transition: str, num_cl, error, candidates, bias) -> None:
    """The simulated annotators' options, checked before any data is loaded."""
    if transition == "annotators" and (isinstance(num_cl, bool) or num_cl not in range(1, CLL_ANNOTATORS + 1)):
        raise ValueError(f"num_cl must be 1, 2 or 3 with transition='annotators' (three annotators per "
                         f"example), got {num_cl!r}")
    if isinstance(error, bool) or not isinstance(error, (int, float)) or not 0 <= error <= 1:
        raise ValueError(f"annotator_error must be a number in [0, 1], got {error!r}")
    if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 2:
        raise ValueError(f"annotator_candidates must be an integer >= 2 (and <= K), got {candidates!r}")
    if isinstance(bias, bool) or not isinstance(bias, (int, float)) or not 0 <= bias < float("inf"):
        raise ValueError(f"annotator_bias must be a number >= 0 (the spread of log class preferences; "
                         f"0: unbiased), got {bias!r}")


def _check_label_source(train: Dataset, transition: str, num_cl, error, candidates) -> str:
    """The label source once the data is known: human labels for a CLDataset, else the transition."""
    from .cll import simulate_annotators
    from .data.climage import CLDataset

    k = train.num_classes
    if isinstance(train, CLDataset):
        if transition not in ("uniform", "human"):
            raise ValueError(f"{train.name} carries human complementary labels: leave transition at its default "
                             f"or pass 'human', got {transition!r}. For synthetic labels on the same images "
                             f"use the ordinary dataset (e.g. cifar10, cifar20).")
        have = train.cl.shape[1]
        if isinstance(num_cl, bool) or not isinstance(num_cl, int) or not 1 <= num_cl <= have:
            raise ValueError(f"num_cl must be an integer in 1..{have} for {train.name} ({have} human labels "
                             f"per example), got {num_cl!r}")
        return "human"
    if transition == "human":
        raise ValueError(f"transition='human' needs a real-world dataset (clcifar10, clcifar20, "
                         f"clmicro-imagenet10, clmicro-imagenet20, or a CLDataset); {train.name} has none")
    if transition == "annotators":  # the K-dependent checks; other label sources ignore these options
        if candidates > k:
            raise ValueError(f"annotator_candidates must be an integer in 2..{k} (K), got {candidates!r}")
        simulate_annotators([0], k, candidates=candidates, error_rate=error, seed=0)
    return transition


def _cll_real_world_labels(tr: Dataset, va: Dataset, c: dict, g):
    """Human or simulated-annotator labels of both splits and Q counted on the training split.

    Returns ``(Q, cl_tr, cl_va)``: the first ``num_cl`` labels per example ((N,) for one), and the
    empirical transition matrix of ALL the training split's labels (true labels used to count it).
    """
    from .cll import empirical_transition, simulate_annotators
    from .cll.annotators import _class_weights

    k, m = tr.num_classes, c["num_cl"]
    if c["transition"] == "human":
        full_tr, full_va = tr.cl, va.cl
        a = full_tr.shape[1]
        Q = empirical_transition(tr.y.cpu().repeat_interleave(a), full_tr.cpu().flatten(), k)
    else:
        bias = _class_weights(c["annotator_bias"], k, g) if c["annotator_bias"] > 0 else None
        kw = dict(annotators=CLL_ANNOTATORS, candidates=c["annotator_candidates"],
                  error_rate=c["annotator_error"], bias=bias, seed=g)
        sim = simulate_annotators(tr.y, k, **kw)
        full_tr, Q = sim.labels, sim.Q
        full_va = simulate_annotators(va.y, k, **kw).labels
    empty = (Q.sum(1) == 0).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"classes {empty} have no training example: their row of the empirical Q cannot be counted")
    cl_tr, cl_va = full_tr[:, :m], full_va[:, :m]
    if m == 1:
        cl_tr, cl_va = cl_tr[:, 0], cl_va[:, 0]
    return Q, cl_tr, cl_va


def _cll_seed(train: Dataset, test: Dataset, seed: int, c: dict, custom, device, progress) -> dict:
    """One seed of :func:`run_cll`: data, labels, training with CL-only selection, test accuracy."""
    import time

    from .cll import CLLObjective, cl_validation, make_method, sample_complementary, to_multi_hot, transition_matrix
    from .data import DeviceLoader
    from .device import get_device, make_generator, set_seed
    from .models import build_model
    from .train import BestCheckpoint, evaluate, fit, logits

    start = time.perf_counter()
    set_seed(seed)
    dev = get_device(device)
    k, prior = train.num_classes, None
    if c["imbalance_ratio"] > 1:
        from .data.imbalance import make_long_tailed

        train = make_long_tailed(train, c["imbalance_ratio"], kind="exp", seed=seed)
    tr, va = train.split(c["val_fraction"], seed=seed)
    if c["imbalance_ratio"] > 1:
        prior = tr.class_counts().float() / len(tr)
    g = make_generator(seed)
    if c["transition"] in CLL_REAL_WORLD:
        Q, cl_tr, cl_va = _cll_real_world_labels(tr, va, c, g)
    else:
        Q = transition_matrix(c["transition"], k, seed=seed, noise=c["noise"], concentration=c["concentration"],
                              rho=c["rho"], matrix=custom)
        cl_tr = sample_complementary(tr.y, Q, num_cl=c["num_cl"], seed=g)
        cl_va = sample_complementary(va.y, Q, num_cl=c["num_cl"], seed=g)
    if c["num_cl"] > 1:
        cl_tr, cl_va = to_multi_hot(cl_tr, k), to_multi_hot(cl_va, k)
    method = make_method(c["method"], k, Q=Q, class_prior=prior)
    net = build_model(c["model"], tr.in_shape, k)
    aug = None
    if c["augment"] is not None:
        from .mix import make_cll_augment

        aug = make_cll_augment(c["augment"], tr, num_classes=k, alpha=c["alpha"], mix_prob=c["mix_prob"],
                               weighting=c["weighting"], clusters=c["clusters"],
                               cluster_method=c["cluster_method"], seed=seed)
    target = tr.y if method.ordinary else cl_tr  # ce: the ordinary-label upper bound
    loader = DeviceLoader(tr.x, target, tr.y, batch_size=c["batch_size"], seed=seed, device=dev,
                          return_index=True)
    key, mode = CLL_SELECT[c["select"]]
    ckpt = BestCheckpoint(lambda m: cl_validation(method, logits(m, va, device=dev), cl_va, Q, y=va.y),
                          key=key, mode=mode, also=(method,))
    history = fit(net, loader, CLLObjective(method, aug), epochs=c["epochs"], lr=c["lr"],
                  weight_decay=c["weight_decay"], device=dev, progress=progress, callbacks=[ckpt])
    final = evaluate(net, test, device=dev, predict_fn=method.predict)["accuracy"]
    last = history.last
    ckpt.restore(net)
    row = {"experiment": "cll", **c, "seed": seed,
           "test_accuracy": evaluate(net, test, device=dev, predict_fn=method.predict)["accuracy"],
           "chosen_epoch": ckpt.best_epoch, "val_scel": ckpt.best_scores["scel"],
           "val_ure": ckpt.best_scores["ure"], "val_oracle_accuracy": ckpt.best_scores["oracle_accuracy"],
           "final_test_accuracy": final, "final_val_scel": last["val_scel"],
           "final_val_oracle_accuracy": last["val_oracle_accuracy"]}
    for name in history.keys():  # the augmentation's measured noise, averaged over epochs
        if name not in ("epoch", "loss", "seconds") and not name.startswith("val_"):
            values = [v for v in history[name] if v is not None]
            row[name] = sum(values) / len(values)
    row["seconds"] = time.perf_counter() - start
    return row


# =========================================================================== story 3: imbalance

IMBALANCED_STRATEGIES = ("erm", "reweight-cb", "drw", "ldam-drw", "smote", "soft-smote", "mixup", "remix",
                         "mamix", "mixup-drw", "remix-drw", "mamix-drw")


def _check_strategy(strategy) -> str:
    if strategy not in IMBALANCED_STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; valid: {', '.join(IMBALANCED_STRATEGIES)}")
    return strategy


def _check_imbalanced_args(*, epochs, drw_epoch, lr, batch_size, weight_decay, alpha, r, kappa, tau, k) -> None:
    """Validate the training knobs up front, before any data is loaded or model trained."""
    def positive_int(v, name, low=1):
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")

    def number(v, name, ok, allowed):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not ok(v):
            raise ValueError(f"{name} must be {allowed}, got {v!r}")

    positive_int(epochs, "epochs")
    positive_int(batch_size, "batch_size")
    positive_int(k, "k (SMOTE neighbours)")
    if drw_epoch is not None:
        positive_int(drw_epoch, "drw_epoch", low=0)
        if drw_epoch > epochs:
            raise ValueError(f"drw_epoch must lie in 0..epochs ({epochs}), got {drw_epoch}")
    number(lr, "lr", lambda v: v > 0, "a positive number")
    number(weight_decay, "weight_decay", lambda v: v >= 0, "a non-negative number")
    number(alpha, "alpha", lambda v: v > 0, "a positive number (λ ~ Beta(α, α))")
    number(r, "r", lambda v: True, "a finite number (MAMix's exponent, -0.25 in the paper)")
    number(kappa, "kappa", lambda v: v >= 1, "a number >= 1 (Remix's count ratio)")
    number(tau, "tau", lambda v: 0 <= v <= 1, "a number in [0, 1] (Remix's threshold)")


def balanced_accuracy(model, data) -> float:
    """Mean per-class accuracy (classes present in ``data``): the selection score on a long-tailed
    validation split, where plain accuracy would reward predicting the head."""
    from .train import evaluate

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

    from .data import DeviceLoader
    from .device import get_device, set_seed
    from .mix.margin import ImbalancedLoss, use_cosine_head
    from .mix.smote import oversample
    from .models import build_model
    from .train import BestCheckpoint, fit

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


def run_imbalanced(*, dataset: str = "digits", ratio: float = 10.0, kind: str = "exp", strategy: str = "erm",
                   model: str = "mlp", epochs: int | None = None, lr: float = 1e-3, batch_size: int = 64,
                   weight_decay: float = 5e-4, seeds: Sequence[int] = (0, 1, 2), val_fraction: float = 0.2,
                   drw_epoch: int | None = None, alpha: float = 1.0, r: float = -0.25, kappa: float = 3.0,
                   tau: float = 0.5, k: int = 5, device: str | None = None,
                   progress: bool = True) -> list[dict]:
    """Long-tailed training with one strategy (SMOTE to MAMix): one row per seed.

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
    from .config import pick
    from .data import make_long_tailed, shot_groups, shot_thresholds
    from .mix.margin import class_margins
    from .train import evaluate

    import time

    _check_strategy(strategy)
    seeds = check_seeds(seeds)
    epochs = pick(200, 20) if epochs is None else epochs
    _check_imbalanced_args(epochs=epochs, drw_epoch=drw_epoch, lr=lr, batch_size=batch_size,
                           weight_decay=weight_decay, alpha=alpha, r=r, kappa=kappa, tau=tau, k=k)
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not ratio >= 1:
        raise ValueError(f"ratio (n_max / n_min) must be a number >= 1, got {ratio!r}")
    if kind not in ("exp", "step"):
        raise ValueError(f"unknown long-tail kind {kind!r}; valid kinds: exp, step")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction!r}")
    from .models import list_models
    if model not in list_models():
        raise ValueError(f"unknown model {model!r}; valid names: {', '.join(list_models())}")
    train_full, test = resolve_dataset(dataset)
    name = dataset if isinstance(dataset, str) else train_full.name
    drw = int(0.8 * epochs) if drw_epoch is None else drw_epoch
    config = {"experiment": "imbalanced", "dataset": name, "ratio": float(ratio), "kind": kind,
              "strategy": strategy, "model": model, "epochs": epochs, "lr": lr, "batch_size": batch_size,
              "weight_decay": weight_decay, "val_fraction": val_fraction, "drw_epoch": drw, "alpha": alpha,
              "r": r, "kappa": kappa, "tau": tau, "k": k}
    rows = []
    for seed in seeds:
        start = time.perf_counter()
        lt = make_long_tailed(train_full, ratio, kind, seed=seed)
        fit_set, val = lt.split(val_fraction, seed=seed)
        net, info = fit_imbalanced(fit_set, strategy, model=model, epochs=epochs, lr=lr, batch_size=batch_size,
                                   weight_decay=weight_decay, val=val, drw_epoch=drw, alpha=alpha, r=r,
                                   kappa=kappa, tau=tau, k=k, seed=seed, device=device, progress=progress)
        counts = lt.class_counts().tolist()
        groups = shot_groups(counts, *shot_thresholds(counts))
        result = evaluate(net, test)
        per_class = result["per_class_accuracy"]
        margins = class_margins(net, fit_set)
        row = {**config, "seed": seed, "test_accuracy": result["accuracy"]}
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


# ============================================================================= story 4: CLIP

def run_clip(*, vision: str = "cnn", text: str = "minilm", head: str = "linear", loss: str = "soft",
             epochs: int | None = None, batch_size: int = 64, lr_encoders: float = 1e-3,
             lr_heads: float = 1e-3, seeds: Sequence[int] = (0, 1, 2), image_size: int = 64,
             n_pairs: int | None = None, embed_dim: int = 256, freeze_text: bool = True,
             freeze_vision: bool = False, pretrained: bool = False, phrasing: str = "varied",
             temperature: float = 1.0, co_positives: bool = False, data_seed: int = 0,
             test_fraction: float = 0.2, val_fraction: float = 0.15, device: str | None = None,
             progress: bool = True) -> list[dict]:
    """Contrastive image-report pretraining on the synthetic lumbar set (LumbarCLIP's setting, REFERENCE.md §4): one row per seed.

    The data (``make_lumbar(n_pairs, image_size, seed=data_seed, phrasing)``) are split once into train /
    validation / test (stratified); each seed re-initialises and re-shuffles. A
    :class:`~labkit.clip.DualEncoder` (``vision`` and ``text`` towers, ``head`` "linear"|"mlp" for
    both, ``embed_dim``) is trained with ``loss`` "hard" (InfoNCE), "soft" (soft CLIP targets,
    ``temperature``) or "sigmoid" (SigLIP), Adam with ``lr_encoders`` for the towers and
    ``lr_heads`` for heads and logit scale; the epoch with the best validation zero-shot macro-F1 is
    kept (never the test set). ``n_pairs`` / ``epochs`` default to ``pick(3000, 800)`` / ``pick(20, 8)``
    (``n_pairs``, not ``n``: summaries use ``n`` for the number of runs).
    Paper scale on a GPU: ``vision="resnet50"`` (or ``vit_base_patch16_224``,
    ``swin_tiny_patch4_window7_224``), ``image_size=224``, ``pretrained=True`` (online),
    ``freeze_text=False``, ``lr_encoders=1e-4``; a clinical BERT via ``text=<Hugging Face id>``.

    Row: experiment, the configuration, seed, zero-shot accuracy / balanced accuracy / macro-F1,
    linear-probe (logistic regression on the vision tower's test features) accuracy / balanced
    accuracy / macro-F1, retrieval ``i2t_R@K`` / ``t2i_R@K`` (K = 1, 5, 10; identical reports are
    co-positives) and mean ranks, the modality ``gap`` and cones, ``best_epoch``, ``seconds``.
    """
    import time

    from .clip import (DualEncoder, fit_clip, image_embeddings, image_features, linear_probe, modality_gap,
                       retrieval_metrics, text_embeddings, zero_shot)
    from .clip.losses import LOSSES
    from .config import pick
    from .data.lumbar import lumbar_prompts, make_lumbar
    from .device import get_device, set_seed

    seeds = check_seeds(seeds)
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; valid names: {', '.join(LOSSES)}")
    if head not in ("linear", "mlp"):
        raise ValueError(f"unknown head {head!r}; valid heads: linear, mlp")
    for name, frac in (("test_fraction", test_fraction), ("val_fraction", val_fraction)):
        if not 0 < frac < 0.5:
            raise ValueError(f"{name} must lie in (0, 0.5), got {frac}")
    from .clip.encoders import list_vision_encoders
    from .data.lumbar import PHRASINGS

    if str(vision).lower() not in list_vision_encoders():
        raise ValueError(f"unknown vision encoder {vision!r}; valid names: {', '.join(list_vision_encoders())}")
    if phrasing not in PHRASINGS:
        raise ValueError(f"phrasing must be one of {PHRASINGS}, got {phrasing!r}")
    epochs = pick(20, 8) if epochs is None else epochs
    n_pairs = pick(3000, 800) if n_pairs is None else n_pairs
    if not isinstance(epochs, int) or epochs < 1 or not isinstance(batch_size, int) or batch_size < 2:
        raise ValueError(f"epochs must be >= 1 and batch_size >= 2 (integers), got {epochs!r}, {batch_size!r}")
    if not isinstance(n_pairs, int) or n_pairs < 50:
        raise ValueError(f"n_pairs must be an integer >= 50 (train, validation and test need examples), got {n_pairs!r}")
    dev = get_device(device)
    config = dict(vision=vision, text=text, head=head, loss=loss, epochs=epochs, batch_size=batch_size,
                  lr_encoders=lr_encoders, lr_heads=lr_heads, image_size=image_size, n_pairs=n_pairs, embed_dim=embed_dim,
                  freeze_text=freeze_text, freeze_vision=freeze_vision, pretrained=pretrained,
                  phrasing=phrasing, temperature=temperature, co_positives=co_positives, data_seed=data_seed)
    data = make_lumbar(n_pairs, image_size=image_size, seed=data_seed, phrasing=phrasing)
    rest, test = data.split(test_fraction, seed=data_seed)
    train, val = rest.split(val_fraction / (1 - test_fraction), seed=data_seed)
    prompts, rows = lumbar_prompts(), []
    for seed in seeds:
        start = time.perf_counter()
        set_seed(seed)
        corpus = train.reports if text == "tiny-bert" else None
        model = DualEncoder(vision, text, head, embed_dim, freeze_text=freeze_text, freeze_vision=freeze_vision,
                            image_size=image_size, pretrained=pretrained, corpus=corpus,
                            init_scale=10.0 if loss == "sigmoid" else 1 / 0.07)  # SigLIP starts at s = 10
        history = fit_clip(model, train, loss=loss, epochs=epochs, batch_size=batch_size, lr_encoders=lr_encoders,
                           lr_heads=lr_heads, temperature=temperature, co_positives=co_positives, val=val,
                           prompts=prompts, seed=seed, device=dev, progress=progress)
        row = {"experiment": "clip", **config, "seed": seed}
        z = zero_shot(model, test.x, prompts, test.y)
        row.update({f"zero_shot_{k}": z[k] for k in ("accuracy", "balanced_accuracy", "macro_f1")})
        probe = linear_probe(image_features(model, train.x), train.y, image_features(model, test.x), test.y)
        row.update({f"probe_{k}": probe[k] for k in ("accuracy", "balanced_accuracy", "macro_f1")})
        img, txt = image_embeddings(model, test.x), text_embeddings(model, test.reports)
        row.update(retrieval_metrics(img, txt, test.report_groups()))
        row.update(modality_gap(img, txt))
        row.update(best_epoch=getattr(history, "best_epoch", epochs), final_loss=history.last["loss"],
                   seconds=time.perf_counter() - start)
        rows.append(row)
    return rows
