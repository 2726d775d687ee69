"""The recipes as data: a paper's setting in one of labkit's configurations, and the number to compare with.

A :class:`Recipe` names a story's configuration class (``cll``, ``imbalanced``, ``clip``) and the
field values of the published setting, the fields it sweeps, its seeds, the data it needs, the
published number(s) its rows are to be compared with and where they were published, where labkit's
run departs from the source, and a ``smoke`` variant (a few seconds on a CPU, embedded data) that the
tests run. Nothing here trains: :mod:`labkit.recipes.command` runs the configurations through
:func:`labkit.experiments.sweep` and :mod:`labkit.recipes.timing` times one real-size epoch.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from ..experiments import CLLConfig, ImbalancedConfig

__all__ = ["Recipe", "Published", "RECIPES", "get_recipe", "list_recipes"]


@dataclass(frozen=True)
class Published:
    """A published number: ``value`` (a fraction, on the scale of labkit's metrics; None where the
    number is not copied into labkit) for the rows whose swept fields equal ``where``, and ``text``:
    the number in words with the table, row and column it comes from."""

    text: str
    value: float | None = None
    where: dict = field(default_factory=dict)

    def matches(self, row: dict) -> bool:
        return all(row.get(k) == v for k, v in self.where.items())


@dataclass(frozen=True)
class Recipe:
    """A paper's setting as data (see the module docstring); ``configs()`` makes its configurations."""

    name: str
    title: str
    story: str          # "cll", "imbalanced" or "clip": the configuration class and runner
    values: dict        # the fields the setting sets (the rest keep the configuration's defaults)
    sweep: dict         # field -> values, every combination is one configuration (the costliest last)
    seeds: tuple
    metric: str         # the row column compared with the published number
    source: str         # where the setting and the numbers were published
    published: tuple    # Published entries
    data: str           # what must be on disk (or reachable) before the run
    deviations: str     # where labkit's run departs from the source, in one paragraph
    smoke: dict         # the tiny CPU variant: field values, and sweep fields cut down
    arch: str = "model"  # the field naming the network (timing runs one configuration per network)

    @property
    def config_class(self):
        from ..experiments import CONFIGS

        return CONFIGS[self.story]

    def configs(self, *, smoke: bool = False, seeds=None, overrides: dict | None = None) -> list:
        """The configurations, checked (a bad value raises ValueError before anything runs).

        ``smoke``: the tiny variant; ``seeds``: replace the recipe's; ``overrides``: field -> value,
        replacing a swept field's values by that one value."""
        values, sweep = dict(self.values), dict(self.sweep)
        if smoke:
            for k, v in self.smoke.items():
                if k in sweep:
                    sweep[k] = tuple(v) if isinstance(v, (tuple, list)) else (v,)
                else:
                    values[k] = v
        for k, v in (overrides or {}).items():
            sweep.pop(k, None)
            values[k] = v
        seeds = tuple(seeds) if seeds is not None else (self.seeds[:1] if smoke else self.seeds)
        cls = self.config_class
        return [cls.build(**values, **dict(zip(sweep, combo)), seeds=seeds)
                for combo in itertools.product(*sweep.values())]

    def published_for(self, row: dict) -> Published | None:
        """The published number a row is compared with (the first entry whose ``where`` matches)."""
        return next((p for p in self.published if p.matches(row)), None)

    def describe(self) -> str:
        """Several lines: the setting, the sweep, the seeds, the data and the comparison."""
        sweep = "; ".join(f"{k} in {', '.join(map(str, v))}" for k, v in self.sweep.items())
        lines = [f"{self.name}: {self.title}", f"  source: {self.source}",
                 f"  setting: {', '.join(f'{k}={v}' for k, v in self.values.items())}",
                 f"  sweep: {sweep or '(one configuration)'}; seeds {' '.join(map(str, self.seeds))}",
                 f"  data: {self.data}", f"  compare {self.metric} with:"]
        lines += [f"    {p.text}" for p in self.published]
        lines.append(f"  departs from the source: {self.deviations}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------- CLL
_DIGITS_SMOKE = dict(dataset="digits", model="mlp", epochs=2, batch_size=64)

# the ICM authors' optimiser, α, λ law and clusters are CLLConfig's "icm-paper" preset; here at their full size
_ICM = dict(method="scl-nl", transition="uniform", model="resnet18", epochs=300, batch_size=512,
            **CLLConfig.PRESETS["icm-paper"][1], cluster_method="simsiam", val_fraction=0.1, select="scel")
_ICM_SOURCE = ("Mai & Lin, Intra-Cluster Mixup (arXiv 2509.17971, TMLR 2026), and the authors' training code "
               "(batch 512, 300 epochs, Adam 1e-3 with weight decay 1e-5, alpha 0.2, one lambda per batch, "
               "50 k-means clusters of SimSiam features)")
_ICM_DEVIATIONS = ("the epoch is chosen on a CL-only validation split (SCEL), not the best test epoch; Mixup "
                   "and ICM share alpha = 0.2 (the authors' Mixup baseline used alpha = 1); labkit's SimSiam "
                   "encoder is small, not a ResNet-18; five seeds compared by per-seed paired differences, "
                   "not one run; no random crops or flips")


def _icm(dataset: str, gain: str) -> Recipe:
    return Recipe(
        name=f"icm-{dataset}", title=f"Intra-Cluster Mixup vs Mixup vs no mixing, SCL-NL, uniform Q, {dataset.upper()}",
        story="cll", values={"dataset": dataset, **_ICM}, sweep={"augment": (None, "mixup", "icm")},
        seeds=(0, 1, 2, 3, 4), metric="test_accuracy", source=_ICM_SOURCE,
        published=(Published(f"published claim: combined with CLL losses, ICM raises accuracy by about {gain} on "
                             f"{dataset.upper()}: compare augment=icm with augment=none, paired by seed (the paper's "
                             f"per-setting numbers are not copied into labkit)", where={"augment": "icm"}),
                   Published("published claim: Mixup hurts complementary-label learning: compare augment=mixup "
                             "with augment=none, paired by seed", where={"augment": "mixup"}),
                   Published("the baseline (no mixing) the gains are measured from", where={"augment": None})),
        data=_data_note(dataset), deviations=_ICM_DEVIATIONS,
        smoke={**_DIGITS_SMOKE, "clusters": 10, "cluster_method": "pca"})


_LIBCLL = dict(epochs=300, batch_size=256, lr=1e-4, weight_decay=0.0, val_fraction=0.1, select="oracle-accuracy")
_LIBCLL_SOURCE = ("libcll (Ye, Mai, Wang, W.-I. Lin & H.-T. Lin 2024, arXiv 2411.12276) and its survey scripts: "
                  "Adam without weight decay, batch 256, 300 epochs, 10% validation scored by ordinary accuracy, "
                  "seeds 1207 9213 17 33; MLP on MNIST, ResNet-34 on CIFAR-10")
_LIBCLL_DEVIATIONS = ("one learning rate (1e-4, libcll's default) instead of the best of five chosen on validation; "
                      "exact per-example test accuracy, not a mean of batch means; URE-GA's correction on one "
                      "partial risk per class, not libcll's one per CL group; labkit's 2x256 MLP and "
                      "CIFAR-style ResNet-18 (no ResNet-34); no random crops or flips on CIFAR-10; validation "
                      "accuracy with true labels is an oracle, kept because it is libcll's protocol")
_METHOD_ROWS = {"scl-nl": "SCL-NL", "fwd": "FWD", "ure-ga": "URE-GA"}


def _libcll(dataset: str, q: str) -> Recipe:
    biased = q == "biased"
    table = "biased-Q (weak and strong) table" if biased else "uniform-Q table"
    column = {"mnist": "MNIST", "cifar10": "CIFAR10"}[dataset]
    published = tuple(Published(f"libcll report, {table}, row {row}, column {column}"
                                + (f" ({t})" if biased else "") + ": the mean over its four seeds (not copied "
                                "into labkit: read it from the report)",
                                where={"method": m, **({"transition": t} if biased else {})})
                      for m, row in _METHOD_ROWS.items() for t in (("weak", "strong") if biased else ("uniform",)))
    return Recipe(
        name=f"libcll-{dataset}-{q}",
        title=f"libcll's benchmark, {'biased (weak / strong)' if biased else 'uniform'} Q, {column}: SCL-NL, FWD, URE-GA",
        story="cll", values={"dataset": dataset, "model": "mlp" if dataset == "mnist" else "resnet18", **_LIBCLL,
                             **({} if biased else {"transition": "uniform"})},
        sweep={"method": tuple(_METHOD_ROWS), **({"transition": ("weak", "strong")} if biased else {})},
        seeds=(1207, 9213, 17, 33), metric="test_accuracy", source=_LIBCLL_SOURCE, published=published,
        data=_data_note(dataset), deviations=_LIBCLL_DEVIATIONS, smoke=dict(_DIGITS_SMOKE))


def _data_note(dataset: str) -> str:
    folder = {"mnist": "MNIST/raw/ (the four IDX files)", "cifar10": "cifar-10-batches-py/"}[dataset]
    return (f"{dataset}: torchvision's files under $LABKIT_DATA or data/cache/ ({folder}); downloaded once "
            f"when the machine is online")


# ----------------------------------------------------------------------------------- imbalanced
_PACKAGE_TABLE = {"erm": 71.23, "drw": 75.08, "ldam-drw": 77.75, "mixup-drw": 82.11, "remix-drw": 81.82,
                  "mamix-drw": 82.29}

_MAMIX = Recipe(
    name="mamix-drw-cifar10-lt",
    title="MAMix-DRW beside ERM, DRW, LDAM-DRW, Mixup-DRW and Remix-DRW on CIFAR-10-LT, ratio 100, ResNet-32",
    story="imbalanced",
    # the package's schedule is ImbalancedConfig's "package" preset, but DRW left at its default of 80% of the
    # epochs (160 of 200), so that --set epochs=N keeps the schedule's shape
    values=dict(dataset="cifar10", model="resnet32", ratio=100.0, kind="exp", batch_size=128,
                **{k: v for k, v in ImbalancedConfig.PRESETS["package"][1].items() if k != "drw_epoch"}),
    sweep={"strategy": tuple(_PACKAGE_TABLE)}, seeds=(0, 1, 2, 3, 4), metric="test_accuracy",
    source=("Cheng, Mai & Lin, From SMOTE to Mixup for deep imbalanced classification (arXiv 2308.15457, TAAI "
            "2023), and its package imbalanced-DL: SGD 0.1, 5-epoch warm-up, lr x0.01 / x0.0001 after epochs "
            "160 / 180 of 200, DRW from epoch 161, batch 128"),
    published=tuple(Published(f"{v:.2f}% test accuracy: the package's CIFAR-10-LT (ratio 100, ResNet-32) table, "
                              f"{k}, the best epoch of one run", value=round(v / 100, 4), where={"strategy": k})
                    for k, v in _PACKAGE_TABLE.items()),
    data=_data_note("cifar10") + "; made long-tailed here (5000 ... 50 images per class)",
    deviations=("the last epoch is reported (the package reports the best TEST epoch of one run, which flatters "
                "every strategy); five seeds; no random crops or flips; no extra clean forward pass per step "
                "(it updates BatchNorm statistics in the package); MAMix's gain over Mixup-DRW is within seed "
                "noise in the paper itself"),
    smoke=dict(dataset="digits", model="mlp", ratio=10.0, epochs=3, drw_epoch=2, batch_size=64))


# ----------------------------------------------------------------------------------------- CLIP
_LUMBARCLIP = Recipe(
    name="lumbarclip",
    title="LumbarCLIP-style training: ResNet-50 / ViT-B/16 / Swin-T + a clinical BERT, 224 px, linear vs MLP heads, "
          "soft CLIP loss",
    story="clip",
    values=dict(text="emilyalsentzer/Bio_ClinicalBERT", freeze_text=False, pretrained=True, image_size=224,
                loss="soft", lr_encoders=1e-4, lr_heads=1e-3, batch_size=64, epochs=20, n_pairs=3000, embed_dim=256),
    sweep={"vision": ("resnet50", "vit_base_patch16_224", "swin_tiny_patch4_window7_224"), "head": ("linear", "mlp")},
    seeds=(0, 1, 2, 3, 4), metric="zero_shot_accuracy", arch="vision",
    source=("Le, Vo, Mai & Phan, LumbarCLIP (arXiv 2509.20813): pretrained ResNet-50 / ViT / Swin image towers, a "
            "BERT-based clinical text tower (reportedly Bio_ClinicalBERT), linear or non-linear heads, soft CLIP loss"),
    published=(Published("LumbarCLIP: up to 95.00% accuracy and 94.75% F1 on its own test set (private axial MRI "
                         "with experts' reports), linear heads ahead of non-linear ones. Another task on other data: "
                         "compare the linear-vs-MLP ordering, not the level", value=None),),
    data=("the synthetic lumbar set (generated, nothing to download) or your own labelled pairs with "
          "--set folder=PATH (reports.csv + images); the pretrained towers are downloaded once (timm, Hugging Face)"),
    deviations=("the paper's data, code, temperature and selection rule are not public: labkit's soft CLIP loss on "
                "L2-normalised embeddings, the epoch chosen on validation zero-shot macro-F1, grayscale slices"),
    smoke=dict(vision=("cnn",), text="tiny-bert", pretrained=False, image_size=32, n_pairs=120, epochs=1,
               batch_size=16, embed_dim=32))


RECIPES: dict[str, Recipe] = {r.name: r for r in (
    _icm("mnist", "30%"), _icm("cifar10", "10%"),
    _libcll("mnist", "uniform"), _libcll("mnist", "biased"), _libcll("cifar10", "uniform"),
    _libcll("cifar10", "biased"), _MAMIX, _LUMBARCLIP)}


def list_recipes() -> list[str]:
    """The recipes' names."""
    return list(RECIPES)


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; an unknown name raises ValueError listing the valid ones."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; valid names: {', '.join(RECIPES)} (labkit reproduce --list)")
    return RECIPES[name]
