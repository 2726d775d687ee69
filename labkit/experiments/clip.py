"""Story 4: contrastive image-report pretraining on the synthetic lumbar set (notebook 05).

:class:`CLIPConfig` holds every knob; :func:`run_clip` trains a dual encoder per seed (LumbarCLIP's
setting: vision tower + BERT-style text tower, linear or MLP heads, hard / soft / sigmoid loss) and
measures zero-shot, linear-probe and retrieval quality and the modality gap: one row per seed.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .. import _validation as check
from .config import RunConfig, check_name, knob
from .results import CONFIGS

__all__ = ["CLIPConfig", "run_clip"]


def _vision():
    from ..clip.encoders import list_vision_encoders

    return list_vision_encoders()


def _losses():
    from ..clip.losses import LOSSES

    return list(LOSSES)


def _phrasings():
    from ..data.lumbar import PHRASINGS

    return list(PHRASINGS)


@dataclass(frozen=True)
class CLIPConfig(RunConfig):
    """One image-report alignment experiment (see :func:`run_clip`); every field is a ``labkit clip`` flag."""

    experiment = "clip"
    METRICS = ("zero_shot_accuracy", "probe_accuracy")
    vision: str = knob("cnn", "vision tower (labkit.clip.list_vision_encoders())", choices=_vision)
    text: str = knob("minilm", "text tower: minilm (offline all-MiniLM-L6-v2), tiny-bert, or a Hugging Face id")
    head: str = knob("linear", "projection heads of both towers: linear or mlp", choices=("linear", "mlp"))
    loss: str = knob("soft", "contrastive loss: hard (InfoNCE), soft (soft CLIP targets), sigmoid (SigLIP)",
                     choices=_losses)
    epochs: int | None = knob(None, "training epochs (none: 20, quick mode 8)")
    batch_size: int = knob(64, "pairs per step (the negatives of each pair)")
    lr_encoders: float = knob(1e-3, "Adam's learning rate for the towers")
    lr_heads: float = knob(1e-3, "Adam's learning rate for the heads and the logit scale")
    image_size: int = knob(64, "side of the square MRI slices in pixels")
    n_pairs: int | None = knob(None, "image-report pairs generated (none: 3000, quick mode 800)")
    embed_dim: int = knob(256, "dimension of the shared embedding space")
    freeze_text: bool = knob(True, "keep the text tower's weights fixed (only its head trains)")
    freeze_vision: bool = knob(False, "keep the vision tower's weights fixed")
    pretrained: bool = knob(False, "load pretrained vision weights (needs the network)")
    phrasing: str = knob("varied", "how reports are written: varied or templated", choices=_phrasings)
    temperature: float = knob(1.0, "ζ, the fixed temperature of the soft CLIP loss")
    co_positives: bool = knob(False, "hard loss: count identical reports in a batch as positives")
    data_seed: int = knob(0, "seed of the synthetic data and of the train/validation/test split")
    folder: str | None = knob(None, "a folder of your own image-report pairs (reports.csv with columns image, "
                              "report, label beside the images; see load_paired_folder), resized to image_size; "
                              "none: the synthetic lumbar set")
    test_fraction: float = knob(0.2, "share of the pairs held out for testing")
    val_fraction: float = knob(0.15, "share of the pairs held out for choosing the epoch")
    seeds: tuple[int, ...] = knob((0, 1, 2), "seeds: one run (one row) per seed")

    def validate(self) -> None:
        if isinstance(self.vision, str):
            self._set("vision", self.vision.lower())
        check_name(self.vision, "vision encoder", _vision())
        check.one_of(self.head, "head", ("linear", "mlp"))
        check_name(self.loss, "loss", _losses())
        check.one_of(self.phrasing, "phrasing", _phrasings())
        if not isinstance(self.text, str) or not self.text:
            raise ValueError(f"text must be a text-tower name (minilm, tiny-bert or a Hugging Face id), "
                             f"got {self.text!r}")
        if self.epochs is not None:
            check.positive_int(self.epochs, "epochs")
        check.integer(self.batch_size, "batch_size", low=2, note="a batch needs negatives")
        if self.n_pairs is not None:
            check.integer(self.n_pairs, "n_pairs", low=50, note="train, validation and test need examples")
        check.integer(self.image_size, "image_size", low=16)
        check.positive_int(self.embed_dim, "embed_dim")
        check.positive(self.lr_encoders, "lr_encoders")
        check.positive(self.lr_heads, "lr_heads")
        check.positive(self.temperature, "temperature")
        for name in ("freeze_text", "freeze_vision", "pretrained", "co_positives"):
            check.boolean(getattr(self, name), name)
        check.integer(self.data_seed, "data_seed")
        if self.folder is not None and (not isinstance(self.folder, str) or not self.folder.strip()):
            raise ValueError(f"folder must be the path of a folder of image-report pairs, or none; got {self.folder!r}")
        check.number(self.test_fraction, "test_fraction", 0, 0.5, low_open=True, high_open=True)
        check.number(self.val_fraction, "val_fraction", 0, 0.5, low_open=True, high_open=True)

    def resolved(self) -> "CLIPConfig":
        from ..config import pick

        return dataclasses.replace(self, epochs=pick(20, 8) if self.epochs is None else self.epochs,
                                   n_pairs=pick(3000, 800) if self.n_pairs is None else self.n_pairs)


CONFIGS["clip"] = CLIPConfig


def run_clip(config: CLIPConfig | None = None, *, device: str | None = None, progress: bool = True,
             save_embeddings=None, **overrides: Any) -> list[dict]:
    """Contrastive image-report pretraining on the synthetic lumbar set (LumbarCLIP's setting): one row per seed.

    ``run_clip(CLIPConfig(head="mlp"))`` and ``run_clip(head="mlp")`` are the same run (keyword
    ``overrides`` replace fields of ``config``; checked before any data is made).
    The data (``make_lumbar(n_pairs, image_size, seed=data_seed, phrasing)``, or with ``folder`` your own
    labelled pairs, :func:`~labkit.data.load_paired_folder` at ``image_size``) are split once into train /
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
    On several GPUs: ``torchrun --nproc_per_node=N -m labkit clip ...`` trains each run data-parallel,
    ``batch_size`` staying the global batch (the negatives gathered from all ranks; docs/cluster.md).

    Row: experiment, the configuration, seed, zero-shot accuracy / balanced accuracy / macro-F1,
    linear-probe (logistic regression on the vision tower's test features) accuracy / balanced
    accuracy / macro-F1, retrieval ``i2t_R@K`` / ``t2i_R@K`` (K = 1, 5, 10; identical reports are
    co-positives) and mean ranks, the modality ``gap`` and cones, ``best_epoch``, ``seconds``.
    ``save_embeddings``: a folder where each seed writes the test images' and reports' embeddings for
    ``labkit explore`` (:mod:`labkit.app.folder`).
    """
    import time

    from ..clip import (DualEncoder, fit_clip, image_embeddings, image_features, linear_probe, modality_gap,
                        retrieval_metrics, text_embeddings, zero_shot)
    from ..device import get_device, set_seed

    config = CLIPConfig.build(config, **overrides).resolved()
    dev = get_device(device)
    data = _paired_data(config)
    rest, test = data.split(config.test_fraction, seed=config.data_seed)
    train, val = rest.split(config.val_fraction / (1 - config.test_fraction), seed=config.data_seed)
    prompts, rows = _prompts(data), []
    for seed in config.seeds:
        start = time.perf_counter()
        set_seed(seed)
        corpus = train.reports if config.text == "tiny-bert" else None
        model = DualEncoder(config.vision, config.text, config.head, config.embed_dim,
                            freeze_text=config.freeze_text, freeze_vision=config.freeze_vision,
                            image_size=config.image_size, pretrained=config.pretrained, corpus=corpus,
                            init_scale=10.0 if config.loss == "sigmoid" else 1 / 0.07)  # SigLIP starts at 1/τ = 10
        history = fit_clip(model, train, loss=config.loss, epochs=config.epochs, batch_size=config.batch_size,
                           lr_encoders=config.lr_encoders, lr_heads=config.lr_heads,
                           temperature=config.temperature, co_positives=config.co_positives, val=val,
                           prompts=prompts, seed=seed, device=dev, progress=progress)
        row = {**config.row(), "seed": seed}
        z = zero_shot(model, test.x, prompts, test.y)
        row.update({f"zero_shot_{k}": z[k] for k in ("accuracy", "balanced_accuracy", "macro_f1")})
        probe = linear_probe(image_features(model, train.x), train.y, image_features(model, test.x), test.y)
        row.update({f"probe_{k}": probe[k] for k in ("accuracy", "balanced_accuracy", "macro_f1")})
        img, txt = image_embeddings(model, test.x), text_embeddings(model, test.reports)
        row.update(retrieval_metrics(img, txt, test.report_groups()))
        row.update(modality_gap(img, txt))
        row.update(best_epoch=getattr(history, "best_epoch", config.epochs), final_loss=history.last["loss"],
                   seconds=time.perf_counter() - start)
        rows.append(row)
        if save_embeddings is not None:
            from ..app.record import save_clip_run

            save_clip_run(save_embeddings, config.row(), seed, img, txt, test, z["pred"],
                          keys=("vision", "head", "loss"), metrics={k: row[k] for k in CLIPConfig.METRICS})
    return rows


def _paired_data(config: CLIPConfig):
    """The pairs of a run: the synthetic lumbar set, or the user's ``folder`` (labelled, >= 2 classes:
    zero-shot and linear-probe scores need classes), checked before any training."""
    from ..data.lumbar import load_paired_folder, make_lumbar

    if config.folder is None:
        return make_lumbar(config.n_pairs, image_size=config.image_size, seed=config.data_seed,
                           phrasing=config.phrasing)
    data = load_paired_folder(config.folder, image_size=config.image_size)
    if data.num_classes < 2:
        raise ValueError(f"{config.folder}: run_clip scores zero-shot and linear-probe classification, so "
                         f"reports.csv needs a label column with at least 2 classes")
    return data


def _prompts(data) -> dict[str, list[str]]:
    """Zero-shot prompts: the lumbar prompt ensembles for the lumbar classes, else each class's name."""
    from ..data.lumbar import LUMBAR_CLASSES, lumbar_prompts

    if tuple(data.classes) == tuple(LUMBAR_CLASSES):
        return lumbar_prompts()
    return {c: [c] for c in data.classes}
