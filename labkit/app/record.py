"""What a story's runner writes for ``--save-embeddings``: one run folder of :mod:`labkit.app.folder`.

A classifier run (``run_cll``, ``run_imbalanced``) writes the test set's learned features
(``model.features``), the true class as labels, and as metadata the true and predicted class names,
whether the prediction is correct and any extra columns the runner adds (e.g. the shot group of an
imbalanced run), with the test images as thumbnails. A CLIP run writes the image embeddings beside
the report embeddings (the compare view), the reports as texts, the zero-shot prediction as metadata.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from .folder import as_images, run_name, save_run

__all__ = ["save_classifier_run", "save_clip_run"]

_IMAGE_BYTES = 512 * 2 ** 20  # thumbnails are kept up to this size (uint8); bigger test sets are saved without


def _images(x):
    """The test inputs as thumbnails when they are float images (the channel rule and min-max stretch of
    :func:`~labkit.app.folder.as_images`, what ``labkit explore`` reads) of a reasonable total size."""
    if x.dim() not in (3, 4) or x.numel() > _IMAGE_BYTES or not x.is_floating_point():
        return None
    return as_images(x)


def _yes_no(values) -> list[str]:
    return ["yes" if bool(v) else "no" for v in values]


def save_classifier_run(folder, experiment: str, row: Mapping, seed: int, model, test, *, predict_fn=None,
                        device=None, keys: Sequence[str] = (), extra: Mapping[str, Sequence] | None = None,
                        metrics: Mapping | None = None) -> Path | None:
    """Write the run folder of one trained classifier on ``test`` (a labkit Dataset); returns it.

    Named by :func:`~labkit.app.folder.run_name` from ``experiment``, the ``keys`` fields of ``row``
    and ``seed``. ``predict_fn`` decodes logits (a CLL method's), ``extra`` adds metadata columns. Under
    torchrun only rank 0 writes (the others return None)."""
    from ..distributed import is_main
    from ..train import embed, predict

    if not is_main():  # under torchrun every rank has the model; rank 0 alone writes
        return None
    features = embed(model, test, device=device)
    predicted = predict(model, test, device=device, predict_fn=predict_fn).cpu()
    y = test.y.cpu()
    names = list(test.classes)
    meta = {"true": [names[int(i)] for i in y], "predicted": [names[int(i)] for i in predicted],
            "correct": _yes_no(predicted == y), **(extra or {})}
    x = test.x.cpu()
    return save_run(folder, run_name(experiment, row, seed, keys), features, labels=y, classes=names, meta=meta,
                    images=_images(x), features_name=f"{experiment} features",
                    run={"experiment": experiment, **row, "seed": seed, **(metrics or {})})


def save_clip_run(folder, row: Mapping, seed: int, image_embeddings, text_embeddings, test, zero_shot_pred=None,
                  *, keys: Sequence[str] = (), metrics: Mapping | None = None) -> Path | None:
    """Write the run folder of one CLIP run: image embeddings beside report embeddings of ``test``
    (on rank 0 only under torchrun; other ranks return None)."""
    from ..distributed import is_main

    if not is_main():
        return None
    names = list(test.classes)
    y = test.y.cpu()
    meta = {"true": [names[int(i)] for i in y]}
    if zero_shot_pred is not None:
        pred = zero_shot_pred.cpu()
        meta.update({"zero-shot": [names[int(i)] for i in pred], "correct": _yes_no(pred == y)})
    return save_run(folder, run_name("clip", row, seed, keys), image_embeddings, labels=y, classes=names, meta=meta,
                    images=_images(test.x.cpu()), texts=list(test.reports), features_name="images",
                    compare=("reports", text_embeddings), run={"experiment": "clip", **row, "seed": seed,
                                                               **(metrics or {})})
