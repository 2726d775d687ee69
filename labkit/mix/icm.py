"""Intra-Cluster Mixup (ICM): k-means on the device, cluster features, partners inside clusters.

Mai & Lin, "Intra-Cluster Mixup: an effective data augmentation technique for complementary-label
learning" (arXiv 2509.17971). Features (the authors: a SimSiam encoder, L2-normalised) are
clustered once with k-means (50 clusters) before training; each example is mixed with a partner
drawn uniformly among the OTHER members of its cluster in the batch, so that partners mostly share
the true class and the mixed complementary label is rarely noisy. MICM mixes three cluster-mates
with Dirichlet(α, α, α) weights.

:func:`build_cll_augment` builds the batch transform that ``labkit.experiments.run_cll`` applies.
Taught in notebooks/03_intra_cluster_mixup.ipynb.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

from .._validation import integer, non_negative, one_of, positive_int, probability
from .._validation import labels as check_labels
from ..device import get_device, make_generator
from ..linalg import pca
from .mixup import (WEIGHTINGS, _check_alpha, random_partners, sample_dirichlet, sample_lambda,
                    to_target_matrix)
from .noise import cluster_noise_rate, expected_cluster_noise, mixed_noise, noise_free_partners

__all__ = ["KMeansResult", "kmeans", "cluster_features", "cluster_purity", "intra_cluster_partners",
           "micm_partners", "cluster_noise_sweep", "build_cll_augment", "make_cll_augment", "CLLAugment", "AUGMENTS",
           "FEATURE_METHODS", "LAM_PER"]

FEATURE_METHODS = ("pixels", "pca", "ssl", "model")
#: how many mixing weights a batch draws: one per example (labkit's default) or one per batch (the
#: ICM authors' code, like Zhang et al.'s reference Mixup)
LAM_PER = ("example", "batch")


# ------------------------------------------------------------------------------------ k-means

class KMeansResult(NamedTuple):
    """``labels`` (N,) long, ``centers`` (k, D), ``inertia`` = Σ_i ‖x_i − c_{labels_i}‖² (float)."""
    labels: torch.Tensor
    centers: torch.Tensor
    inertia: float


def _chunk_rows(n: int, k: int, budget: int = 2**25) -> int:
    """Rows per distance chunk so that a chunk's (rows, k) float matrix stays under ``budget`` entries."""
    return max(1, min(n, budget // max(k, 1)))


def _sq_dist(x: torch.Tensor, x_sq: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """‖x − c‖² for every row of x and c, (n, k): ‖x‖² − 2 x·c + ‖c‖², clamped at 0 (rounding)."""
    d = torch.addmm(x_sq[:, None] + (c * c).sum(1)[None, :], x, c.T, alpha=-2.0)
    return d.clamp_min_(0.0)


def _assign(x, x_sq, c, chunk):
    """Nearest centre and its squared distance for every row, computed in chunks of rows.

    ‖x‖² is the same for every centre, so the argmin uses ‖c‖² − 2 x·c and adds ‖x‖² afterwards."""
    labels = torch.empty(len(x), dtype=torch.long, device=x.device)
    dist = torch.empty(len(x), dtype=x.dtype, device=x.device)
    c_sq = (c * c).sum(1)[None, :]
    for s in range(0, len(x), chunk):
        d = torch.addmm(c_sq, x[s:s + chunk], c.T, alpha=-2.0)
        dist[s:s + chunk], labels[s:s + chunk] = d.min(1)
    return labels, dist.add_(x_sq).clamp_min_(0.0)


def _draw(weights: torch.Tensor, count: int, g: torch.Generator) -> torch.Tensor:
    """``count`` indices drawn with probability ∝ weights (inverse CDF; uniforms from the CPU generator)."""
    cdf = torch.cumsum(weights.double(), 0)
    u = torch.rand(count, generator=g, dtype=torch.float64).to(weights.device) * cdf[-1]
    return torch.searchsorted(cdf, u).clamp_(max=len(weights) - 1)


def _kmeans_pp(x, x_sq, k, g, chunk):
    """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007): each new centre is the best of
    2 + ⌊ln k⌋ candidates drawn ∝ D², where D is the distance to the nearest chosen centre."""
    n = len(x)
    trials = 2 + int(math.log(k))
    first = int(torch.randint(n, (1,), generator=g))
    centers = x.new_empty((k, x.shape[1]))
    centers[0] = x[first]
    closest = _sq_dist(x, x_sq, x[first:first + 1])[:, 0]
    for i in range(1, k):
        if float(closest.sum()) <= 0:  # fewer distinct points than k: any point will do
            cand = torch.randint(n, (trials,), generator=g).to(x.device)
        else:
            cand = _draw(closest, trials, g)
        potential = torch.zeros(len(cand), dtype=x.dtype, device=x.device)
        for s in range(0, n, chunk):  # inertia if each candidate were added, chunked over rows
            d = _sq_dist(x[s:s + chunk], x_sq[s:s + chunk], x[cand])
            potential += torch.minimum(d, closest[s:s + chunk, None]).sum(0)
        best = int(potential.argmin())
        centers[i] = x[cand[best]]
        closest = torch.minimum(closest, _sq_dist(x, x_sq, centers[i:i + 1])[:, 0])
    return centers


def kmeans(x, k: int, *, iters: int = 100, tol: float = 1e-4, seed: int | None = None,
           device=None, chunk_size: int | None = None) -> KMeansResult:
    """Lloyd's k-means in torch with k-means++ seeding, on the GPU when there is one.

    Minimises the inertia Σ_i min_c ‖x_i − μ_c‖². Distances are computed in row chunks so that
    60,000 × 512 features fit in memory. Stops when the centres move by less than
    ``tol`` × (mean per-feature variance) in squared norm (scikit-learn's criterion) or after
    ``iters`` iterations. An emptied cluster is re-seeded at the point farthest from its centre.
    Deterministic under ``seed``. Lloyd 1982; Arthur & Vassilvitskii 2007.
    """
    x = torch.as_tensor(x)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"x must be a non-empty (N, D) matrix, got shape {tuple(x.shape)}")
    n = len(x)
    k = integer(k, "k", low=1, high=n, note=f"at most N = {n}, the number of points")
    iters = positive_int(iters, "iters")
    tol = non_negative(tol, "tol")
    device = get_device(device) if device is not None else (x.device if x.device.type != "cpu" else get_device())
    x = x.to(device=device, dtype=torch.float32)
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x contains NaN or infinite values")
    g = make_generator(seed)
    chunk = _chunk_rows(n, k) if chunk_size is None else positive_int(chunk_size, "chunk_size",
                                                                         note="rows per distance block")
    # Centre the data: same clustering, better rounding in ‖x‖² − 2x·c + ‖c‖².
    mean = x.mean(0)
    x = x - mean
    x_sq = (x * x).sum(1)
    threshold = tol * float(x.var(0).mean()) if n > 1 else 0.0
    centers = _kmeans_pp(x, x_sq, k, g, chunk)
    for _ in range(iters):
        labels, dist = _assign(x, x_sq, centers, chunk)
        sums = torch.zeros_like(centers).index_add_(0, labels, x)
        counts = torch.bincount(labels, minlength=k).to(x.dtype)
        new = sums / counts.clamp_min(1)[:, None]
        empty = counts == 0
        if bool(empty.any()):  # re-seed empty clusters at the worst-served points
            far = dist.topk(int(empty.sum())).indices
            new[empty] = x[far]
        shift = float(((new - centers) ** 2).sum())
        centers = new
        if shift <= threshold:
            break
    labels, dist = _assign(x, x_sq, centers, chunk)
    return KMeansResult(labels, centers + mean, float(dist.double().sum()))


# ---------------------------------------------------------------------------- cluster features

def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(len(x), -1).float()


def cluster_features(dataset, method: str = "pca", model=None, dim: int = 50, *, seed: int = 0,
                     device=None, batch_size: int = 1024, **ssl_options) -> torch.Tensor:
    """L2-normalised features to cluster, (N, d), one row per example of ``dataset``.

    ``method``: ``"pixels"`` (flattened inputs), ``"pca"`` (the top ``dim`` principal components),
    ``"ssl"`` (a small self-supervised SimSiam encoder trained here, see :mod:`labkit.mix.ssl`;
    ``ssl_options`` go to :func:`labkit.mix.ssl.train_simsiam`), ``"model"`` (``model.features`` of
    a given network, e.g. one trained with labels elsewhere). ``dataset``: a labkit Dataset or a
    tensor of inputs. The ICM authors cluster L2-normalised SimSiam features (Mai & Lin 2025).
    """
    if method not in FEATURE_METHODS:
        raise ValueError(f"unknown feature method {method!r}; valid: {', '.join(FEATURE_METHODS)}")
    if method == "model" and model is None:
        raise ValueError("method='model' needs a model with a .features(x) method")
    if method != "model" and model is not None:
        raise ValueError(f"a model was given but method={method!r}; use method='model' to cluster its features")
    dim = positive_int(dim, "dim")
    if ssl_options and method != "ssl":
        raise ValueError(f"options {sorted(ssl_options)} only apply to method='ssl'")
    x = dataset.x if hasattr(dataset, "x") else torch.as_tensor(dataset)
    if method == "pixels":
        feats = _flat(x)
    elif method == "pca":
        feats = pca(_flat(x).to(get_device(device) if device is not None else x.device), dim)
    else:
        from ..train import embed
        if method == "ssl":
            from .ssl import train_simsiam
            model = train_simsiam(x, seed=seed, device=device, **ssl_options)
        feats = embed(model, x, batch_size=batch_size, device=device)
    return torch.nn.functional.normalize(feats.float(), dim=1)


def cluster_purity(labels, y, kind: str = "majority") -> float:
    """How well clusters match classes.

    ``"majority"``: Σ_c max_class |cluster c ∩ class| / N (the usual purity).
    ``"pair"``: the probability that a partner drawn uniformly among the OTHER members of an
    example's cluster has the same class, averaged over examples (singletons count as pure); this
    is the p of the closed form (1 − p)(2K − 3)/(K − 1)².
    """
    labels, y = check_labels(labels, "labels", ndim=None).cpu(), check_labels(y, "y", ndim=None).cpu()
    if labels.ndim != 1 or labels.shape != y.shape or len(y) == 0:
        raise ValueError(f"labels and y must be non-empty vectors of the same length, got "
                         f"{tuple(labels.shape)} and {tuple(y.shape)}")
    if kind not in ("majority", "pair"):
        raise ValueError(f"unknown purity kind {kind!r}; valid: majority, pair")
    _, c = torch.unique(labels, return_inverse=True)
    k = int(y.max()) + 1
    table = torch.bincount(c * k + y, minlength=(int(c.max()) + 1) * k).reshape(-1, k).double()
    if kind == "majority":
        return float(table.max(1).values.sum() / len(y))
    size = table.sum(1)
    same = table[c, y] - 1                # other members of my cluster with my class
    others = size[c] - 1
    p = torch.where(others > 0, same / others.clamp_min(1), torch.ones_like(same))
    return float(p.mean())


def cluster_noise_sweep(features, y, cl, clusters=(1, 5, 10, 20, 50, 100), *, seed: int = 0) -> list[dict]:
    """Purity and intra-cluster pair noise as the number of clusters grows: one dict per k with
    ``clusters``, ``purity`` (majority), ``pair_purity`` (p), ``noise`` (the exact mean of
    :func:`cluster_noise_rate`, what ICM's partners give over the whole set), ``closed_form``
    ((1 − p)(2K − 3)/(K − 1)², its expectation over uniform CL draws) and ``inertia``. k = 1 is Mixup."""
    y = torch.as_tensor(y).long().cpu()
    cl = torch.as_tensor(cl).long().cpu()
    num_classes = int(torch.maximum(y.max(), cl.max())) + 1
    rows = []
    for k in clusters:
        res = kmeans(features, int(k), seed=seed)
        labels = res.labels.cpu()
        p = cluster_purity(labels, y, kind="pair")
        rows.append({"clusters": int(k), "purity": cluster_purity(labels, y), "pair_purity": p,
                     "noise": float(cluster_noise_rate(labels, y, cl).mean()),
                     "closed_form": expected_cluster_noise(min(max(p, 0.0), 1.0), max(num_classes, 2)),
                     "inertia": res.inertia})
    return rows


# ----------------------------------------------------------------------------- partner sampling

def _cluster_layout(cluster_ids: torch.Tensor):
    """Sort the batch by cluster: (order, start of my cluster's block, my rank in it, block size)."""
    order = torch.argsort(cluster_ids, stable=True)
    _, counts = torch.unique_consecutive(cluster_ids[order], return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    start = torch.repeat_interleave(starts, counts)
    size = torch.repeat_interleave(counts, counts)
    rank = torch.arange(len(order), device=order.device) - start
    return order, start, rank, size


def _check_ids(cluster_ids) -> torch.Tensor:
    cluster_ids = torch.as_tensor(cluster_ids)
    if cluster_ids.ndim != 1 or len(cluster_ids) == 0 or cluster_ids.is_floating_point():
        raise ValueError(f"cluster_ids must be a non-empty integer vector (B,), got "
                         f"{cluster_ids.dtype} of shape {tuple(cluster_ids.shape)}")
    return cluster_ids.long()


def intra_cluster_partners(cluster_ids, generator: torch.Generator | None = None, *,
                           seed: int | None = None, count: int = 1) -> torch.Tensor:
    """Partners drawn uniformly among the OTHER batch members of the same cluster (ICM).

    Returns (B,) for ``count=1``, or (B, count) distinct partners per example (MICM uses 2).
    An example alone in its cluster is its own partner (left unmixed); with fewer than ``count``
    cluster-mates the last available one is repeated. Vectorised: the batch is sorted by cluster,
    and each example adds a random shift s ∈ {1, …, m − 1} to its rank inside its block of size m,
    so there is no Python loop over examples or clusters. Mai & Lin 2025.
    """
    cluster_ids = _check_ids(cluster_ids)
    count = positive_int(count, "count")
    g = make_generator(seed, generator)
    order, start, rank, size = _cluster_layout(cluster_ids)
    n, device = len(order), cluster_ids.device
    others = (size - 1).clamp_min(0)
    # Distinct shifts in 1..m-1: the j-th draw is uniform over the values not drawn yet
    # (sequential "draw and skip taken values", over `count` steps only, not over examples).
    u = torch.rand(n, count, generator=g).to(device)
    shifts = []
    for j in range(count):
        avail = (others - j).clamp_min(1)
        s = 1 + (u[:, j] * avail).long().clamp_max(avail - 1)
        for taken in _ascending(shifts):
            s = s + (s >= taken).long()
        s = torch.minimum(s, others.clamp_min(0))  # fewer mates than draws: repeat the last one
        shifts.append(s)
    out_sorted = [start + (rank + s) % size for s in shifts]
    partner = torch.empty(n, count, dtype=torch.long, device=device)
    for j, p in enumerate(out_sorted):
        partner[order, j] = order[p]
    return partner[:, 0] if count == 1 else partner


def _ascending(shifts: list[torch.Tensor]) -> list[torch.Tensor]:
    """Element-wise ascending order of the shifts drawn so far (for the skip-taken-values step)."""
    if len(shifts) < 2:
        return list(shifts)
    return list(torch.stack(shifts, 0).sort(0).values)


def micm_partners(cluster_ids, generator: torch.Generator | None = None, *, seed: int | None = None) -> torch.Tensor:
    """Two distinct cluster-mates per example, (B, 2): the partners of Multi-ICM (MICM)."""
    return intra_cluster_partners(cluster_ids, generator, seed=seed, count=2)


# ------------------------------------------------------------------------ the CLL augmentation

AUGMENTS = ("mixup", "icm", "micm", "mixup-oracle")


class CLLAugment:
    """The batch transform of Mixup / ICM / MICM for complementary-label learning.

    ``aug(x, cl_target, idx, y_true) -> (x_mixed, soft_target (B, K), logs)``. ``idx`` are the
    batch's indices into the training set (to look up cluster ids); ``y_true`` is used ONLY to
    measure noise (``logs`` is empty when it is None):

    - ``mixed_fraction``: the share of the batch that was actually mixed (an ICM example alone in
      its cluster within the batch, or one left out by ``mix_prob`` or by the oracle, is not);
    - ``noisy_fraction``: the share of the batch whose mix is noisy;
    - ``pair_noise``: noisy / mixed, the noise rate among the MIXED examples of this batch (0.0
      when none was mixed; then ``mixed_fraction`` is 0 too);
    - ``noisy_mass``: the batch mean of the soft target's mass on another component's true label.

    ``kind="mixup-oracle"`` is the noise-free ORACLE that uses true labels to undo every noisy pair
    (analysis only, never a method). Built by :func:`build_cll_augment`.
    """

    def __init__(self, kind, num_classes, alpha, mix_prob, weighting, cluster_ids, generator, lam_per="example"):
        self.kind, self.num_classes, self.alpha = kind, num_classes, alpha
        self.mix_prob, self.weighting, self.lam_per = mix_prob, weighting, lam_per
        self.cluster_ids, self.generator = cluster_ids, generator

    def __repr__(self) -> str:
        clusters = "" if self.cluster_ids is None else f", clusters={int(self.cluster_ids.max()) + 1}"
        return (f"CLLAugment({self.kind!r}, alpha={self.alpha}, lam_per={self.lam_per!r}, "
                f"mix_prob={self.mix_prob}, weighting={self.weighting!r}{clusters})")

    def partners(self, idx, device) -> torch.Tensor:
        """Partner indices within the batch, (B,) for Mixup/ICM or (B, 2) for MICM."""
        n = len(idx)
        if self.kind in ("mixup", "mixup-oracle"):
            return random_partners(n, self.generator, device=device)
        if self.cluster_ids.device != torch.device(device):
            self.cluster_ids = self.cluster_ids.to(device)  # once, not every batch
        ids = self.cluster_ids[idx.to(device)]
        return intra_cluster_partners(ids, self.generator, count=2 if self.kind == "micm" else 1)

    def weights(self, n: int, device) -> torch.Tensor:
        """Input weights (B, P + 1): [λ, 1 − λ] (λ ~ Beta(α, α)) or Dirichlet(α, α, α) for MICM;
        one draw per example, or one shared by the whole batch (``lam_per="batch"``)."""
        draws = 1 if self.lam_per == "batch" else n
        if self.kind == "micm":
            w = sample_dirichlet(self.alpha, draws, 3, self.generator)
        else:
            lam = sample_lambda(self.alpha, draws, self.generator)
            w = torch.stack([lam, 1 - lam], 1)
        return w.expand(n, w.shape[1]).to(device)

    def __call__(self, x, cl_target, idx, y_true=None):
        n, device = len(x), x.device
        idx = torch.as_tensor(idx, device=device)
        t = to_target_matrix(torch.as_tensor(cl_target, device=device), self.num_classes)
        if len(t) != n or len(idx) != n or (y_true is not None and len(y_true) != n):
            raise ValueError(f"x, cl_target, idx and y_true must have the same length, got {n}, "
                             f"{len(t)}, {len(idx)}, {None if y_true is None else len(y_true)}")
        partners = self.partners(idx, device)
        partners = partners[:, None] if partners.ndim == 1 else partners
        if self.mix_prob < 1:  # the rest keep their own input and target
            keep = (torch.rand(n, generator=self.generator) >= self.mix_prob).to(device)
            partners = torch.where(keep[:, None], torch.arange(n, device=device)[:, None], partners)
        if self.kind == "mixup-oracle":
            if y_true is None:
                raise ValueError("the noise-free oracle needs y_true")
            partners = noise_free_partners(y_true.to(device), t, partners)
        w = self.weights(n, device)
        comp = torch.cat([torch.arange(n, device=device)[:, None], partners], 1)  # (B, P + 1)
        x_mixed = (w.to(x.dtype).view(n, w.shape[1], *([1] * (x.ndim - 1))) * x[comp]).sum(1)
        label_w = w if self.weighting == "input" else (1 - w) / (w.shape[1] - 1)
        soft = (label_w[:, :, None] * t[comp]).sum(1)
        # An example that is its own partner is unmixed: exactly its input and target (no rounding).
        alone = (partners == torch.arange(n, device=device)[:, None]).all(1)
        x_mixed = torch.where(alone.view(-1, *([1] * (x.ndim - 1))), x, x_mixed)
        soft = torch.where(alone[:, None], t, soft)
        logs = {}
        if y_true is not None:
            noisy, mass = mixed_noise(y_true.to(device), t, partners, label_w, self.num_classes)
            mixed = int((~alone).sum())
            noisy_count = float(noisy[~alone].sum())  # an unmixed example is neither noisy nor clean
            logs = {"pair_noise": noisy_count / mixed if mixed else 0.0, "mixed_fraction": mixed / n,
                    "noisy_fraction": noisy_count / n, "noisy_mass": float(mass.mean())}
        return x_mixed, soft, logs


def build_cll_augment(kind: str, train_dataset, *, num_classes: int, alpha: float = 1.0, mix_prob: float = 1.0,
                      weighting: str = "input", clusters: int = 50, cluster_method: str = "pca",
                      seed: int | None = None, lam_per: str = "example") -> CLLAugment:
    """Mixup (``"mixup"``), Intra-Cluster Mixup (``"icm"``) or MICM (``"micm"``) for CLL training.

    Returns ``aug(x, cl_target, idx, y_true) -> (x_mixed, soft_target, logs)``:
    x̃ = Σ_a w_a·x_a and t̃ = Σ_a w'_a·T_a over the example and its partner(s), with
    w = (λ, 1 − λ), λ ~ Beta(α, α) (MICM: w ~ Dirichlet(α, α, α)); label weights w' = w for
    ``weighting="input"`` and w' = (1 − w)/P for ``"reverse"`` (P partners; (1 − λ, λ) for one).
    ``lam_per="example"`` draws one λ per example; ``"batch"`` one λ shared by the whole batch, as
    the ICM authors' code (and Zhang et al.'s) does. Either way E[λ(1 − λ)] = α/(2(2α + 1)).
    ``mix_prob`` is the fraction of each batch that is mixed. For ICM/MICM the cluster ids are
    computed ONCE here: k-means (``clusters``, seeded) on
    ``cluster_features(train_dataset, method=cluster_method)`` (``"simsiam"`` is accepted for ``"ssl"``). ``"mixup-oracle"`` is the
    noise-free ORACLE (Mixup with noisy pairs undone using true labels; analysis only).
    Mai & Lin 2025 (arXiv 2509.17971); Zhang et al. 2018.
    """
    if kind not in AUGMENTS:
        raise ValueError(f"unknown augmentation {kind!r}; valid: {', '.join(AUGMENTS)}")
    alpha = _check_alpha(alpha)
    mix_prob = probability(mix_prob, "mix_prob", note="the fraction of each batch that is mixed")
    one_of(weighting, "weighting", WEIGHTINGS)
    one_of(lam_per, "lam_per", LAM_PER)
    num_classes = integer(num_classes, "num_classes", low=2)
    g = make_generator(seed)
    cluster_ids = None
    if kind in ("icm", "micm"):
        n = len(train_dataset)
        clusters = integer(clusters, "clusters", low=1, high=n, note="at most the training set size")
        if cluster_method == "model":
            raise ValueError("cluster_method='model' needs a model: compute ids with cluster_features and kmeans")
        # "simsiam" is the configuration's (and CLI's) name of the "ssl" features
        feats = cluster_features(train_dataset, method="ssl" if cluster_method == "simsiam" else cluster_method,
                                 seed=0 if seed is None else seed)
        cluster_ids = kmeans(feats, clusters, seed=0 if seed is None else seed).labels
    return CLLAugment(kind, num_classes, alpha, float(mix_prob), weighting, cluster_ids, g, lam_per)


#: Former name of :func:`build_cll_augment`, kept so existing code runs.
make_cll_augment = build_cll_augment
