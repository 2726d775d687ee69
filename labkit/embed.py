"""2-D projections of embeddings (UMAP, PCA, t-SNE) with an on-disk cache, and the k-NN and
selection maths the embedding explorer asks of them. No plotting here (no plotly import).

UMAP's first call in a fresh kernel compiles numba code (10-45 s); later calls with the same data
and parameters read the cached projection from ``data_dir()/projections`` instantly.
Taught in notebooks/00_tour.ipynb.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from . import _validation as check
from ._arrays import to_numpy
from .config import data_dir
from .linalg import pca

__all__ = ["project_2d", "list_projections", "cache_path", "NeighborIndex", "neighbors_of", "nearest_neighbors",
           "selection_summary", "search_points"]

_METHODS = ("umap", "pca", "tsne")
_VERSION = "2"  # bump when a projection's code changes, so old caches are not reused (2: labkit.linalg.pca)


def list_projections() -> list[str]:
    """Names accepted by :func:`project_2d`."""
    return list(_METHODS)


def cache_path(features: np.ndarray, method: str, **params) -> Path:
    """Where the projection of ``features`` with ``params`` is cached (a hash of data and parameters)."""
    h = hashlib.sha256()
    h.update(f"{_VERSION}|{method}|{sorted(params.items())}|{features.shape}|{features.dtype}".encode())
    h.update(np.ascontiguousarray(features).tobytes())
    return data_dir() / "projections" / f"{method}-{h.hexdigest()[:24]}.npy"


def _save_atomic(path: Path, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` through a temporary file and a rename, with normal permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp.npy")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, array)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would survive the rename
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_WARNED: set[str] = set()  # cache problems already reported in this session (warn once each)


def _cache_warning(kind: str, detail: str) -> None:
    if kind not in _WARNED:
        _WARNED.add(kind)
        warnings.warn(f"projection cache {detail}; computing the projection instead (the cache only saves "
                      f"time; this warning is shown once)", RuntimeWarning, stacklevel=3)


def _read_cache(x: np.ndarray, method: str, params: dict) -> tuple[Path | None, np.ndarray | None]:
    """The cache file and its projection, or None where there is none or it cannot be used."""
    try:
        path = cache_path(x, method, **params)
    except OSError as exc:  # e.g. LABKIT_DATA names a file, or the cache directory cannot be made
        _cache_warning("dir", f"directory is unusable ({type(exc).__name__}: {exc})")
        return None, None
    if not path.is_file():
        return path, None
    try:
        cached = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - 0-byte, truncated or corrupted file: recompute
        _cache_warning("read", f"file {path} is unreadable ({type(exc).__name__}: {exc}); it will be rewritten")
        return path, None
    if cached.shape != (len(x), 2) or cached.dtype.kind != "f" or not np.isfinite(cached).all():
        _cache_warning("read", f"file {path} holds a bad projection (shape {cached.shape}, or NaN/inf); "
                               f"it will be rewritten")
        return path, None
    return path, cached.astype(np.float32, copy=False)


def _compute(x: np.ndarray, method: str, n_neighbors: int, min_dist: float, perplexity: float,
             seed: int) -> np.ndarray:
    if method == "pca":  # deterministic: ``seed`` is unused
        xy = pca(torch.from_numpy(x), 2).numpy()
    elif method == "tsne":
        from sklearn.manifold import TSNE

        xy = TSNE(n_components=2, perplexity=min(perplexity, (len(x) - 1) / 3), init="pca",
                  random_state=seed).fit_transform(x)
    else:
        import warnings

        import umap

        with warnings.catch_warnings():  # UMAP warns that a seed disables parallelism: intended
            warnings.simplefilter("ignore", UserWarning)
            xy = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, len(x) - 1), min_dist=min_dist,
                           random_state=seed, init="spectral" if len(x) > n_neighbors + 2 else "random"
                           ).fit_transform(x)
    return np.asarray(xy, dtype=np.float32)


def project_2d(features, method: str = "umap", *, n_neighbors: int = 15, min_dist: float = 0.1,
               perplexity: float = 30.0, seed: int = 0, cache: bool = True) -> np.ndarray:
    """Project (N, D) features to (N, 2) for plotting.

    ``umap`` (McInnes et al. 2018; ``n_neighbors``, ``min_dist``), ``pca`` (the top two principal
    axes, :func:`labkit.linalg.pca`; Pearson 1901), or ``tsne`` (van der Maaten & Hinton 2008;
    ``perplexity``). Features are flattened to (N, D) first. With ``cache`` the result is stored
    under ``data_dir()/projections`` keyed by the data and every parameter, written atomically,
    and reused. The cache only saves time: an unusable cache (read-only directory, 0-byte or corrupted
    file, an entry holding NaN) gives one RuntimeWarning and the projection is computed. The 2-D map
    keeps neighbourhoods, not distances: measure distances in the original space.
    """
    if not isinstance(method, str) or method not in _METHODS:
        raise ValueError(f"unknown projection {method!r}; valid names: {', '.join(_METHODS)}")
    n_neighbors = check.integer(n_neighbors, "n_neighbors", low=2, note="UMAP")
    min_dist = check.number(min_dist, "min_dist", low=0, high=1, note="UMAP")
    perplexity = check.positive(perplexity, "perplexity", note="t-SNE")
    seed = check.seed(seed, allow_none=False)
    cache = check.boolean(cache, "cache")
    x = to_numpy(features).astype(np.float32)
    x = x.reshape(len(x), -1) if x.ndim > 1 else x
    if x.ndim != 2 or len(x) < 3:
        raise ValueError(f"features must be (N, D) with N >= 3, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or infinite values")
    if method == "pca" and x.shape[1] < 2:
        raise ValueError(f"pca needs features with at least 2 dimensions, got shape {x.shape}")
    params = dict(seed=seed)
    if method == "umap":
        params.update(n_neighbors=int(n_neighbors), min_dist=float(min_dist))
    elif method == "tsne":
        params.update(perplexity=float(perplexity))
    path, cached = _read_cache(x, method, params) if cache else (None, None)
    if cached is not None:
        return cached
    xy = _compute(x, method, n_neighbors, min_dist, perplexity, seed)
    if path is not None:
        try:
            _save_atomic(path, xy)
        except OSError as exc:  # read-only or full disk: the projection itself is never lost
            _cache_warning("write", f"could not be written to {path.parent} ({type(exc).__name__}: {exc})")
    return xy


# ------------------------------------------------------- what the explorer asks of the features

class NeighborIndex:
    """Nearest neighbours of one example at a time in the ORIGINAL feature space, with what does not
    depend on the queried example computed once here: the checked float32 rows, unit rows for
    "cosine", squared norms for "euclidean". A :meth:`query` then costs one matrix-vector product
    (a click at 70,000 × 512 in the explorer, benchmarks/explorer.py). :func:`neighbors_of` is
    this index built for a single query.

    ``metric``: "cosine" (d(a, b) = 1 − a·b / (‖a‖ ‖b‖)) or "euclidean" (d(a, b) = ‖a − b‖₂; ranked
    by ‖a‖² + ‖b‖² − 2a·b, the returned distances recomputed as ‖a − b‖₂ so close pairs are exact).
    """

    def __init__(self, features, metric: str = "cosine"):
        self.metric = check.one_of(metric, "metric", ("cosine", "euclidean"))
        x = torch.as_tensor(to_numpy(features), dtype=torch.float32)
        x = x.reshape(len(x), -1)
        self.n = len(x)
        if self.n < 2:
            raise ValueError(f"features must hold at least 2 examples to have a neighbour, got {self.n}")
        check.finite_tensor(x, "features")
        if metric == "cosine":
            self._rows, self._sq = torch.nn.functional.normalize(x, dim=1), None
        else:
            self._rows, self._sq = x, x.pow(2).sum(1)

    def query(self, index: int, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest examples to example ``index`` (itself excluded): ``(indices, distances)``,
        closest first."""
        index = check.integer(index, "index", low=0, high=self.n - 1)
        k = check.integer(k, "k", low=1, high=self.n - 1)
        rows = self._rows
        if self._sq is None:
            dist = 1.0 - rows @ rows[index]
        else:
            dist = (self._sq + self._sq[index] - 2.0 * (rows @ rows[index])).clamp_min(0)
        dist[index] = float("inf")
        values, idx = torch.topk(dist, k, largest=False)
        if self._sq is not None:  # exact ‖a − b‖ for the k kept (the expansion loses close pairs to rounding)
            values = (rows[idx] - rows[index]).pow(2).sum(1).sqrt()
            values, order = torch.sort(values, stable=True)
            idx = idx[order]
        return idx.numpy(), values.clamp_min(0).numpy()


def neighbors_of(features, index: int, k: int = 8, metric: str = "cosine") -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest examples to example ``index`` in the ORIGINAL feature space (itself excluded).

    ``metric``: "cosine" (d(a, b) = 1 − a·b / (‖a‖ ‖b‖)) or "euclidean" (d(a, b) = ‖a − b‖₂).
    Returns ``(indices, distances)``, closest first. Unlike a 2-D map, these distances are the
    embedding's own. Many queries on the same features: build a :class:`NeighborIndex` once.
    (The k-NN of many points at once, for SMOTE, lives in :mod:`labkit.mix.smote`.)
    """
    return NeighborIndex(features, metric).query(index, k)


nearest_neighbors = neighbors_of  # the old name of neighbors_of, kept so existing code keeps working


def selection_summary(indices, labels=None, classes=None, *, sample: int = 12, seed: int = 0) -> dict:
    """What a box/lasso selection holds: ``size``, ``counts`` (class name -> count, most frequent
    first) and ``sample`` (up to ``sample`` member indices drawn with ``seed``, for a gallery)."""
    sample = check.non_negative_int(sample, "sample")
    seed = check.seed(seed, allow_none=False)
    idx = np.asarray(indices).reshape(-1)
    if idx.size and (idx.dtype.kind not in "iu" or int(idx.min()) < 0):
        raise ValueError(f"indices must be non-negative integer positions, got {idx[:5].tolist()}")
    idx = idx.astype(int)
    if labels is not None:
        all_labels = to_numpy(labels).reshape(-1)
        if classes is not None:  # labels index the class names: no negative or fractional label
            all_labels = check.labels(all_labels, "labels", len(classes), ndim=None).numpy()
        if len(idx) and int(idx.max()) >= len(all_labels):
            raise ValueError(f"indices must lie in 0..{len(all_labels) - 1} (one per label), got {int(idx.max())}")
    out = {"size": int(len(idx)), "counts": {}, "sample": idx[:0]}
    if len(idx) == 0:
        return out
    if labels is not None:
        lab = all_labels[idx]
        values, counts = np.unique(lab, return_counts=True)
        order = np.argsort(-counts, kind="stable")
        names = [classes[int(v)] if classes is not None else str(v) for v in values[order]]
        out["counts"] = dict(zip(names, counts[order].tolist()))
    rng = np.random.default_rng(seed)
    out["sample"] = np.sort(rng.choice(idx, size=min(sample, len(idx)), replace=False))
    return out


def search_points(query: str, *columns) -> np.ndarray:
    """Indices of the points whose text in any of ``columns`` (sequences of str, one per point)
    contains ``query`` (case-insensitive). An empty query matches nothing."""
    query = (query or "").strip().lower()
    if not query or not columns:
        return np.zeros(0, dtype=int)
    n = len(columns[0])
    if any(len(c) != n for c in columns):
        raise ValueError("every searched column needs one text per point")
    hits = [i for i in range(n) if any(query in str(c[i]).lower() for c in columns)]
    return np.asarray(hits, dtype=int)
