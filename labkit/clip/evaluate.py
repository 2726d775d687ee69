"""Evaluating an image-text embedding: zero-shot classification, linear probe, retrieval, and the
modality gap (docs/reference.md §5.3-5.4). Plain functions of embeddings, as in open_clip.
Taught in notebooks/05_clip_embedding_alignment.ipynb.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .._validation import MAX_CLASSES, finite_tensor, integer, labels as check_labels, positive, positive_int

__all__ = ["image_embeddings", "text_embeddings", "image_features", "zero_shot", "linear_probe",
           "retrieval_metrics", "modality_gap", "close_gap", "classification_metrics"]


# ---------------------------------------------------------------------------- embedding a set

def _device(model) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def _batched(fn, model, items, batch_size: int):
    was = model.training
    model.eval()
    try:
        return torch.cat([fn(items[i:i + batch_size]).float() for i in range(0, len(items), batch_size)])
    finally:
        model.train(was)


def image_embeddings(model, images: torch.Tensor, *, batch_size: int = 256) -> torch.Tensor:
    """x̂ for every image (eval mode, no gradients), shape (N, embed_dim)."""
    dev = _device(model)
    return _batched(lambda b: model.encode_images(b.to(dev)), model, images, batch_size)


def image_features(model, images: torch.Tensor, *, batch_size: int = 256) -> torch.Tensor:
    """The vision tower's features (before the head), what a linear probe reads, (N, out_dim)."""
    dev = _device(model)
    return _batched(lambda b: model.vision(b.to(dev)), model, images, batch_size)


def text_embeddings(model, texts: Sequence[str], *, batch_size: int = 256) -> torch.Tensor:
    """ŷ for every text (eval mode, no gradients; a frozen tower's features are cached), (N, embed_dim)."""
    return _batched(lambda b: model.encode_texts(list(b)), model, list(texts), batch_size)


# ---------------------------------------------------------------------------- classification

def classification_metrics(pred, y, num_classes: int | None = None) -> dict:
    """Accuracy, balanced accuracy (mean per-class recall) and macro-F1 of predicted classes."""
    from sklearn.metrics import balanced_accuracy_score, f1_score

    if num_classes is not None:
        num_classes = integer(num_classes, "num_classes", low=1, high=MAX_CLASSES)
    pred = check_labels(pred, "pred", num_classes, ndim=None).cpu().numpy()
    y = check_labels(y, "y", num_classes, ndim=None).cpu().numpy()
    if pred.shape != y.shape or pred.ndim != 1 or not len(y):
        raise ValueError(f"pred and y must be 1-D of equal, non-zero length, got {pred.shape} and {y.shape}")
    k = num_classes or int(max(pred.max(), y.max())) + 1
    if k <= 4096:  # dense K×K counts; above, a sparse matrix (K² counts would not fit in memory)
        confusion = np.bincount(y * k + pred, minlength=k * k).reshape(k, k)
    else:
        from scipy.sparse import coo_matrix
        confusion = coo_matrix((np.ones(len(y), dtype=np.int64), (y, pred)), shape=(k, k)).tocsr()
    labels = np.unique(y)
    return {"accuracy": float((pred == y).mean()),
            "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
            "macro_f1": float(f1_score(y, pred, labels=labels, average="macro", zero_division=0)),
            "confusion": confusion}


def zero_shot(model, images: torch.Tensor, class_prompts, labels=None, *, batch_size: int = 256) -> dict:
    """Zero-shot classification with prompt ensembles: each class's prompt embeddings ŷ are averaged
    and re-normalised into a class embedding c_k; the prediction is argmax_k x̂·c_k (Radford et al. 2021).

    ``class_prompts``: a dict {class name: [prompts]} (ordered as the classes) or a list of prompt
    lists. Returns ``pred``, ``scores`` (N, K) and, with ``labels``, :func:`classification_metrics`.
    """
    prompts = list(class_prompts.values()) if isinstance(class_prompts, Mapping) else list(class_prompts)
    if len(prompts) < 2 or any(isinstance(p, str) or not len(p) for p in prompts):
        raise ValueError("class_prompts needs at least 2 classes, each a non-empty list of prompt strings")
    flat = [t for p in prompts for t in p]
    emb = text_embeddings(model, flat, batch_size=batch_size)
    owner = torch.repeat_interleave(torch.arange(len(prompts)), torch.tensor([len(p) for p in prompts]))
    centroids = torch.zeros(len(prompts), emb.shape[1], device=emb.device).index_add_(0, owner.to(emb.device), emb)
    centroids = F.normalize(centroids, dim=-1)
    scores = image_embeddings(model, images, batch_size=batch_size) @ centroids.T
    out = {"pred": scores.argmax(1).cpu(), "scores": scores.cpu()}
    if labels is not None:
        out.update(classification_metrics(out["pred"], labels, len(prompts)))
    return out


def linear_probe(train_feats, train_y, test_feats, test_y, *, C: float = 1.0, max_iter: int = 2000) -> dict:
    """Logistic regression (standardised features, L2 penalty ``C``) fitted on frozen train features,
    scored on test: accuracy, balanced accuracy, macro-F1, ``pred`` (the CLIP paper's linear probe)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    C, max_iter = positive(C, "C", note="the inverse L2 penalty"), positive_int(max_iter, "max_iter")
    xtr, xte = (np.asarray(torch.as_tensor(a).float().cpu()) for a in (train_feats, test_feats))
    finite_tensor(xtr, "train_feats")
    finite_tensor(xte, "test_feats")
    ytr, yte = (check_labels(a, name, ndim=None).cpu().numpy() for a, name in ((train_y, "train_y"), (test_y, "test_y")))
    if xtr.ndim != 2 or xte.ndim != 2 or xtr.shape[1] != xte.shape[1]:
        raise ValueError(f"features must be (N, D) with the same D, got {xtr.shape} and {xte.shape}")
    if len(xtr) != len(ytr) or len(xte) != len(yte):
        raise ValueError("each feature matrix needs one label per row")
    if len(np.unique(ytr)) < 2:
        raise ValueError("the training labels must contain at least 2 classes")
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    clf.fit(xtr, ytr)
    pred = clf.predict(xte)
    out = classification_metrics(pred, yte, int(max(ytr.max(), yte.max())) + 1)
    out["pred"] = torch.as_tensor(pred)
    return out


# ---------------------------------------------------------------------------- retrieval

def _ranks(sim: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """1-based rank of the best-ranked positive in each row: 1 + #negatives scoring higher than it."""
    best_pos = sim.masked_fill(~positive, float("-inf")).max(1, keepdim=True).values
    return 1 + ((sim > best_pos) & ~positive).sum(1)


def retrieval_metrics(image_emb: torch.Tensor, text_emb: torch.Tensor, groups=None,
                      ks: Sequence[int] = (1, 5, 10)) -> dict:
    """Recall@K image→text (``i2t_R@K``) and text→image (``t2i_R@K``), mean and median rank.

    Row i's positives are text i (image i), or with ``groups`` every example with the same id
    (identical reports are co-positives). Rank = 1 + the number of negatives scoring strictly above
    the best positive (ties resolved in the positive's favour). Embeddings are L2-normalised here.
    """
    if image_emb.ndim != 2 or image_emb.shape != text_emb.shape:
        raise ValueError(f"image_emb and text_emb must be (N, D) of the same shape, got "
                         f"{tuple(image_emb.shape)} and {tuple(text_emb.shape)}")
    ks = [positive_int(k, "each k of ks", note=f"ks = {ks}") for k in ks]
    finite_tensor(image_emb, "image_emb")
    finite_tensor(text_emb, "text_emb")
    x, y = F.normalize(image_emb.float(), dim=-1), F.normalize(text_emb.float().to(image_emb.device), dim=-1)
    n = len(x)
    if groups is None:
        positive = torch.eye(n, dtype=torch.bool, device=x.device)
    else:
        g = torch.as_tensor(groups, device=x.device)
        if g.shape != (n,):
            raise ValueError(f"groups must hold one id per example, shape ({n},), got {tuple(g.shape)}")
        positive = g[:, None] == g[None, :]
    sim = x @ y.T
    out = {}
    for direction, s, p in (("i2t", sim, positive), ("t2i", sim.T, positive.T)):
        r = _ranks(s, p).float()
        for k in ks:
            out[f"{direction}_R@{int(k)}"] = float((r <= k).float().mean())
        out[f"{direction}_mean_rank"] = float(r.mean())
        out[f"{direction}_median_rank"] = float(r.median())
    return out


# ---------------------------------------------------------------------------- modality gap

def _mean_offdiag_cosine(z: torch.Tensor) -> float:
    """Mean cosine over pairs i ≠ j of unit vectors: (‖Σz‖² − N) / (N(N−1)), in O(N·D)."""
    n = len(z)
    if n < 2:
        return float("nan")
    s = z.sum(0)
    return float(((s @ s) - n) / (n * (n - 1)))


def modality_gap(image_emb: torch.Tensor, text_emb: torch.Tensor) -> dict:
    """The modality gap ‖mean(x̂) − mean(ŷ)‖ of L2-normalised embeddings (Liang et al. 2022, "Mind
    the Gap"; 0.82 for CLIP on COCO), with the within-modality mean cosines ``image_cone`` and
    ``text_cone`` (how narrow each modality's cone is). Measured in the embedding space, never on a
    UMAP (UMAP does not preserve distances)."""
    if image_emb.ndim != 2 or text_emb.ndim != 2 or image_emb.shape[1] != text_emb.shape[1]:
        raise ValueError(f"embeddings must be (N, D) with the same D, got {tuple(image_emb.shape)} "
                         f"and {tuple(text_emb.shape)}")
    finite_tensor(image_emb, "image_emb")
    finite_tensor(text_emb, "text_emb")
    x, y = F.normalize(image_emb.float(), dim=-1), F.normalize(text_emb.float().to(image_emb.device), dim=-1)
    return {"gap": float(torch.linalg.vector_norm(x.mean(0) - y.mean(0))),
            "image_cone": _mean_offdiag_cosine(x), "text_cone": _mean_offdiag_cosine(y)}


def close_gap(image_emb: torch.Tensor, text_emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Remove the modality gap (Liang et al. 2022's shift): Δ = mean(x̂) − mean(ŷ);
    x̂ ← normalise(x̂ − Δ/2), ŷ ← normalise(ŷ + Δ/2). Used to show what the gap does to a UMAP."""
    x, y = F.normalize(image_emb.float(), dim=-1), F.normalize(text_emb.float().to(image_emb.device), dim=-1)
    delta = x.mean(0) - y.mean(0)
    return F.normalize(x - delta / 2, dim=-1), F.normalize(y + delta / 2, dim=-1)
