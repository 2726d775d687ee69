"""Stories 1 and 2: complementary-label learning, with Mixup / ICM as options (notebooks 01-03).

:class:`CLLConfig` holds every knob; :func:`run_cll` trains one model per seed, selects the epoch on
CL-only validation and reports exact test accuracy: one row per seed.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .. import _validation as check
from ..data import Dataset
from .config import RunConfig, check_dataset, check_name, knob, model_names as _models, resolve_dataset
from .results import CONFIGS

__all__ = ["CLLConfig", "run_cll", "CLL_SELECT", "CLL_AUGMENTS", "CLL_REAL_WORLD"]

CLL_SELECT = {"scel": ("scel", "min"), "ure": ("ure", "min"), "oracle-accuracy": ("oracle_accuracy", "max")}
CLL_AUGMENTS = ("mixup", "icm", "micm", "mixup-oracle")
CLL_EPOCHS = (100, 20)  # default epochs (full, quick)
CLL_REAL_WORLD = ("annotators", "human")  # label sources beside the Q families
CLL_ANNOTATORS = 3  # the CLImage protocol: three annotators per image


def _methods():
    from ..cll import list_methods

    return list_methods()


def _transitions():
    from ..cll import list_transitions

    return list_transitions(custom=False) + list(CLL_REAL_WORLD)  # a custom Q is passed as a matrix


@dataclass(frozen=True)
class CLLConfig(RunConfig):
    """One complementary-label experiment (see :func:`run_cll`); every field is a ``labkit cll`` flag."""

    experiment = "cll"
    METRICS = ("test_accuracy", "final_test_accuracy")
    dataset: str = knob("digits", "a name from list_datasets(), or a (train, test) pair of labkit Datasets")
    method: str = knob("scl-nl", "the complementary-label loss (labkit.cll.list_methods())", choices=_methods)
    transition: str = knob("uniform", "how complementary labels are drawn: a Q family, 'annotators' (simulated "
                           "CLImage annotators), 'human' (a real-world dataset), or a K×K matrix", choices=_transitions)
    num_cl: int = knob(1, "complementary labels per example (0: a random-size set)")
    model: str = knob("mlp", "the network (labkit.list_models())", choices=_models)
    epochs: int | None = knob(None, "training epochs (none: 100, quick mode 20)")
    lr: float = knob(1e-3, "Adam's learning rate")
    batch_size: int = knob(64, "examples per step")
    val_fraction: float = knob(0.1, "share of the training set held out for CL-only validation")
    select: str = knob("scel", "how the kept epoch is chosen on validation: scel or ure (CL-only), "
                       "oracle-accuracy (true labels: an oracle)", choices=tuple(CLL_SELECT))
    weight_decay: float = knob(1e-4, "Adam's weight decay")
    noise: float = knob(0.1, "noise level η of the 'noisy' Q: (1 − η)·strong + η/K")
    concentration: float = knob(1.0, "Dirichlet concentration of the 'dirichlet' Q (large: near uniform)")
    rho: float = knob(10.0, "ρ of the 'biased' Q: Q[y, c] ∝ ρ^(−c/(K−1))")
    annotator_error: float = knob(0.04, "simulated annotators: probability of naming the true class")
    annotator_candidates: int = knob(4, "simulated annotators: labels shown to each annotator")
    annotator_bias: float = knob(0.0, "simulated annotators: spread of log class preferences (0: unbiased)")
    imbalance_ratio: float = knob(1.0, "n_max / n_min of an exponentially long-tailed training set (1: balanced)")
    augment: str | None = knob(None, "mixing of training inputs: none, mixup, icm, micm, mixup-oracle",
                               choices=(None,) + CLL_AUGMENTS)
    alpha: float = knob(1.0, "λ ~ Beta(α, α) for Mixup / ICM (Dirichlet(α, α, α) for MICM); the same α for both")
    lam_per: str = knob("example", "mixing weights drawn per 'example' (labkit) or one per 'batch' (the ICM code)",
                        choices=("example", "batch"))
    mix_prob: float = knob(1.0, "probability that an example is mixed")
    weighting: str = knob("input", "soft-label weights: 'input' (λ on the sample's own label) or 'reverse'",
                          choices=("input", "reverse"))
    clusters: int = knob(50, "k-means clusters for ICM / MICM")
    cluster_method: str = knob("pca", "features clustered for ICM: pixels, pca, simsiam",
                               choices=("pixels", "pca", "simsiam"))
    seeds: tuple[int, ...] = knob((0, 1, 2, 3, 4), "seeds: one run (one row) per seed")

    PRESETS = {
        "icm-paper": ("the ICM authors' setting as far as digits allow: α = 0.2 for Mixup and ICM alike, one λ per "
                      "batch, Adam 1e-3 with weight decay 1e-5, 50 clusters (their batch 512 and 300 epochs are "
                      "for 50,000 images: batch 64 and 100 epochs here)",
                      dict(alpha=0.2, lam_per="batch", lr=1e-3, weight_decay=1e-5, clusters=50)),
        "alpha-0.2": ("the defaults with α = 0.2 (Beta(0.2, 0.2): most λ near 0 or 1, so mixing is mild)",
                      dict(alpha=0.2)),
        "lam-per-batch": ("the defaults (α = 1) with one λ per batch, as the ICM authors' code draws it",
                          dict(lam_per="batch")),
    }

    def validate(self) -> None:
        check_dataset(self.dataset)
        if isinstance(self.method, str):
            self._set("method", self.method.lower())
        check_name(self.method, "method", _methods())
        if self.transition == "custom":
            raise ValueError(f"transition 'custom' is a matrix, not a name: pass transition=Q (a K×K matrix) from "
                             f"Python; by name choose one of {', '.join(_transitions())}")
        if isinstance(self.transition, str):
            check_name(self.transition, "transition", _transitions())
        else:
            from ..cll import check_transition

            check_transition(self.transition)  # a K×K matrix; its K is checked against the data later
        check.one_of(self.select, "select", CLL_SELECT)
        check_name(self.model, "model", _models())
        check.one_of(self.augment, "augment", (None,) + CLL_AUGMENTS)
        check.one_of(self.weighting, "weighting", ("input", "reverse"))
        check.one_of(self.lam_per, "lam_per", ("example", "batch"))
        check.one_of(self.cluster_method, "cluster_method", ("pixels", "pca", "simsiam"))
        if self.epochs is not None:
            check.positive_int(self.epochs, "epochs")
        check.positive_int(self.batch_size, "batch_size")
        check.non_negative_int(self.num_cl, "num_cl", note="0: a random-size set")
        check.open_fraction(self.val_fraction, "val_fraction")
        check.number(self.imbalance_ratio, "imbalance_ratio", low=1, note="1: balanced")
        check.positive(self.lr, "lr")
        check.non_negative(self.weight_decay, "weight_decay")
        check.positive(self.alpha, "alpha", note="λ ~ Beta(α, α)")
        check.probability(self.mix_prob, "mix_prob")
        check.positive_int(self.clusters, "clusters")
        check.probability(self.noise, "noise")
        check.positive(self.concentration, "concentration")
        check.positive(self.rho, "rho")
        _check_annotator_args(self.transition if isinstance(self.transition, str) else "custom", self.num_cl, self.annotator_error, self.annotator_candidates,
                              self.annotator_bias)

    def resolved(self) -> "CLLConfig":
        from ..config import pick

        return self if self.epochs is not None else dataclasses.replace(self, epochs=pick(*CLL_EPOCHS))

    def row(self) -> dict:
        out = super().row()
        if not isinstance(self.transition, str):
            out["transition"] = "custom"
        return out


CONFIGS["cll"] = CLLConfig


def run_cll(config: CLLConfig | None = None, *, device: str | None = None, progress: bool = True,
            save_embeddings=None, **overrides: Any) -> list[dict]:
    """Complementary-label learning on one dataset: train, select on CL-only validation, test; one row per seed.

    ``run_cll(CLLConfig(method="fwd"))`` and ``run_cll(method="fwd")`` are the same run: keyword
    ``overrides`` replace fields of ``config`` (default :class:`CLLConfig`), and the configuration is
    checked before any data is loaded.

    For each seed: the training set (made long-tailed with ``make_long_tailed(..., kind="exp")`` when
    ``imbalance_ratio`` > 1; the test set stays balanced) is split into train/validation
    (``val_fraction``, stratified); Q = ``transition_matrix(transition, K, seed=seed, noise=...,
    concentration=..., rho=...)`` (``transition`` may also be a K×K matrix: "custom"); ``num_cl``
    complementary labels per example are drawn from that SAME Q for both splits (0: a random-size
    set); ``build_method(method, K, Q=Q, class_prior=...)`` is trained with Adam (``lr``,
    ``weight_decay``) for ``epochs`` (None: 100, quick mode 20), optionally with Mixup / ICM / MICM
    (``augment``, ``alpha``, ``lam_per``, ``mix_prob``, ``weighting``, ``clusters``,
    ``cluster_method``; see labkit.mix). The epoch kept is the best on validation by ``select``: "scel" or "ure" (CL-only) or
    "oracle-accuracy" (needs true validation labels: an oracle). The test set's true labels are used
    only to report exact per-example accuracy.

    Real-world complementary labels:

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

    Row columns: ``experiment``, the configuration (:meth:`CLLConfig.row`), ``seed``,
    ``test_accuracy`` (chosen epoch), ``chosen_epoch``, ``val_scel``, ``val_ure``,
    ``val_oracle_accuracy`` (at the chosen epoch), ``final_test_accuracy``, ``final_val_scel``,
    ``final_val_oracle_accuracy`` (last epoch), ``dead_classes`` / ``final_dead_classes`` (how many
    classes the model never predicts on the test set at the chosen / last epoch: a seed that
    fails usually has some), ``seconds``, and with ``augment`` the per-epoch
    means of the measured noise: ``mixed_fraction`` (share of examples actually mixed),
    ``noisy_fraction``, ``noisy_mass`` and ``pair_noise`` (noisy / mixed, pooled over all batches:
    an unmixed example counts neither as noisy nor as clean).

    Named protocols: ``CLLConfig.preset("icm-paper")`` etc. (``CLLConfig.describe_presets()``).
    ``save_embeddings``: a folder where each seed writes the test set's features at the chosen epoch
    for ``labkit explore`` (:mod:`labkit.app.folder`).
    """
    from ..cll import transition_matrix

    config = CLLConfig.build(config, **overrides).resolved()
    train, test = resolve_dataset(config.dataset)
    k = train.num_classes
    custom = None if isinstance(config.transition, str) else config.transition
    transition = _check_label_source(train, "custom" if custom is not None else config.transition,
                                     config.num_cl, config.annotator_error, config.annotator_candidates)
    if transition not in CLL_REAL_WORLD:
        transition_matrix(transition, k, seed=0, noise=config.noise, concentration=config.concentration,
                          rho=config.rho, matrix=custom)
        check.integer(config.num_cl, "num_cl", 0, k - 1, note="0: a random-size set")
    c = {**config.row(), "transition": transition}
    return [_cll_seed(train, test, seed, c, custom, device, progress, save_embeddings) for seed in config.seeds]


def _check_annotator_args(transition: str, num_cl, error, candidates, bias) -> None:
    """The simulated annotators' options, checked before any data is loaded."""
    if transition == "annotators" and (isinstance(num_cl, bool) or num_cl not in range(1, CLL_ANNOTATORS + 1)):
        raise ValueError(f"num_cl must be 1, 2 or 3 with transition='annotators' (three annotators per "
                         f"example), got {num_cl!r}")
    check.probability(error, "annotator_error")
    check.integer(candidates, "annotator_candidates", low=2, note="and <= K")
    check.non_negative(bias, "annotator_bias", note="the spread of log class preferences; 0: unbiased")


def _check_label_source(train: Dataset, transition: str, num_cl, error, candidates) -> str:
    """The label source once the data is known: human labels for a CLDataset, else the transition."""
    from ..cll import simulate_annotators
    from ..data.climage import CLDataset

    k = train.num_classes
    if isinstance(train, CLDataset):
        if transition not in ("uniform", "human"):
            raise ValueError(f"{train.name} carries human complementary labels: leave transition at its default "
                             f"or pass 'human', got {transition!r}. For synthetic labels on the same images "
                             f"use the ordinary dataset (e.g. cifar10, cifar20).")
        have = train.cl.shape[1]
        check.integer(num_cl, "num_cl", 1, have, note=f"{train.name} has {have} human labels per example")
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
    from ..cll import empirical_transition, simulate_annotators
    from ..cll.annotators import _class_weights

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


def _dead_classes(confusion, k: int) -> int:
    """Classes the model never predicts on the test set (a zero column of the confusion matrix)."""
    return int((confusion.sum(0)[:k] == 0).sum())


def _cll_seed(train: Dataset, test: Dataset, seed: int, c: dict, custom, device, progress, save_to=None) -> dict:
    """One seed of :func:`run_cll`: data, labels, training with CL-only selection, test accuracy."""
    import time

    from ..cll import CLLObjective, cl_validation, make_method, sample_complementary, to_multi_hot, transition_matrix
    from ..data import DeviceLoader
    from ..device import get_device, make_generator, set_seed
    from ..models import build_model
    from ..train import BestCheckpoint, evaluate, fit, logits

    start = time.perf_counter()
    set_seed(seed)
    dev = get_device(device)
    k, prior = train.num_classes, None
    if c["imbalance_ratio"] > 1:
        from ..data.imbalance import make_long_tailed

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
        from ..mix import make_cll_augment

        aug = make_cll_augment(c["augment"], tr, num_classes=k, alpha=c["alpha"], mix_prob=c["mix_prob"],
                               weighting=c["weighting"], clusters=c["clusters"],
                               cluster_method=c["cluster_method"], seed=seed, lam_per=c["lam_per"])
    target = tr.y if method.ordinary else cl_tr  # ce: the ordinary-label upper bound
    loader = DeviceLoader(tr.x, target, tr.y, batch_size=c["batch_size"], seed=seed, device=dev,
                          return_index=True)
    key, mode = CLL_SELECT[c["select"]]
    ckpt = BestCheckpoint(lambda m: cl_validation(method, logits(m, va, device=dev), cl_va, Q, y=va.y),
                          key=key, mode=mode, also=(method,))
    history = fit(net, loader, CLLObjective(method, aug), epochs=c["epochs"], lr=c["lr"],
                  weight_decay=c["weight_decay"], device=dev, progress=progress, callbacks=[ckpt])
    final = evaluate(net, test, device=dev, predict_fn=method.predict)
    last = history.last
    ckpt.restore(net)
    chosen = evaluate(net, test, device=dev, predict_fn=method.predict)
    row = {"experiment": "cll", **c, "seed": seed,
           "test_accuracy": chosen["accuracy"],
           "chosen_epoch": ckpt.best_epoch, "val_scel": ckpt.best_scores["scel"],
           "val_ure": ckpt.best_scores["ure"], "val_oracle_accuracy": ckpt.best_scores["oracle_accuracy"],
           "final_test_accuracy": final["accuracy"], "final_val_scel": last["val_scel"],
           "final_val_oracle_accuracy": last["val_oracle_accuracy"],
           "dead_classes": _dead_classes(chosen["confusion"], k),
           "final_dead_classes": _dead_classes(final["confusion"], k)}
    for name in history.keys():  # the augmentation's measured noise, averaged over epochs
        if name not in ("epoch", "loss", "seconds") and not name.startswith("val_"):
            values = [v for v in history[name] if v is not None]
            row[name] = sum(values) / len(values)
    if row.get("mixed_fraction"):  # pooled over every batch: noisy mixed examples / mixed examples
        row["pair_noise"] = row["noisy_fraction"] / row["mixed_fraction"]
    row["seconds"] = time.perf_counter() - start
    if save_to is not None:  # the chosen epoch's features of the test set, for labkit explore
        from ..app.record import save_classifier_run

        save_classifier_run(save_to, "cll", c, seed, net, test, predict_fn=method.predict, device=dev,
                            keys=("dataset", "method"), metrics={"test_accuracy": row["test_accuracy"]})
    return row
