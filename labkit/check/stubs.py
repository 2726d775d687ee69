"""The implement-it-yourself stubs: signature, docstring and ``raise NotImplementedError``, as text a
notebook cell can show (``print(labkit.check.STUBS["scl-nl"])``) and hand out. Each docstring gives
the formula, the shapes, and the checker to run; the maths is in docs/reference.md."""
from __future__ import annotations

STUBS: dict[str, str] = {}

STUBS["scl-nl"] = '''def scl_nl_loss(logits, cl):
    """SCL-NL (Chou et al. 2020): the batch mean of -log(1 - s_cl + eps).

    logits: (B, K) float tensor f(x); cl: (B,) long tensor of complementary labels (each a class
    the example is NOT). s = softmax(logits) over the K classes, eps = 1e-6 (labkit.cll.EPS).
    Returns a scalar tensor that autograd can differentiate. docs/reference.md section 2.2.
    Check it: labkit.check.check_scl_nl(scl_nl_loss)
    """
    raise NotImplementedError("write the SCL-NL loss")
'''

STUBS["fwd"] = '''def fwd_loss(logits, cl, Q):
    """Forward correction (Yu et al. 2018): the batch mean of -log((sQ)_cl + eps).

    logits: (B, K); cl: (B,) long complementary labels; Q: (K, K) transition matrix with
    Q[y, c] = P(cl = c | true label y) (rows sum to 1). s = softmax(logits), (sQ)_c = sum_y s_y Q[y, c]
    is the model's probability that the complementary label is c; eps = 1e-6.
    Returns a scalar tensor. docs/reference.md section 2.2. Check: labkit.check.check_fwd(fwd_loss)
    """
    raise NotImplementedError("write the forward-corrected loss")
'''

STUBS["pair-noise-rate"] = '''def pair_noise_rate(y, cl, partner):
    """The share of MIXED pairs that are noisy (Mai & Lin 2025).

    y: (B,) true labels; cl: (B,) complementary labels; partner: (B,) the index j of each example's
    Mixup partner. Pair (i, j) is noisy when cl[i] == y[j] or cl[j] == y[i]. An example that is
    its own partner (j == i) is not mixed: leave it out of the mean. Returns a float (NaN when no
    example is mixed). docs/reference.md section 3.2.
    Check: labkit.check.check_pair_noise_rate(pair_noise_rate)
    """
    raise NotImplementedError("measure the pair-noise rate")
'''

STUBS["expected-pair-noise"] = '''def expected_pair_noise(Q, prior):
    """The probability that a pair of independent examples is noisy (closed form).

    Q: (K, K) transition matrix; prior: (K,) class prior pi (sums to 1). Two examples with true
    labels a, b ~ pi and complementary labels drawn from Q[a], Q[b]: noisy when cl_a == b or
    cl_b == a. Returns a float. Uniform Q, balanced classes: (2K - 3)/(K(K - 1)).
    docs/reference.md section 3.2. Check: labkit.check.check_expected_pair_noise(expected_pair_noise)
    """
    raise NotImplementedError("derive and write the closed form")
'''

STUBS["intra-cluster-partners"] = '''def intra_cluster_partners(cluster_ids, generator):
    """ICM's partners (Mai & Lin 2025): for each example, an index drawn uniformly among the OTHER
    examples of the batch with the same cluster id; an example alone in its cluster is its own
    partner (it stays unmixed).

    cluster_ids: (B,) long tensor; generator: a torch.Generator, the only source of randomness
    (torch.rand(..., generator=generator)), so the same seed gives the same partners.
    Returns a (B,) long tensor of indices into the batch. docs/reference.md section 3.3.
    Check: labkit.check.check_intra_cluster_partners(intra_cluster_partners)
    """
    raise NotImplementedError("draw partners inside clusters")
'''

STUBS["mamix-weight"] = '''def mamix_weight(lam, n_i, n_j, r=-0.25):
    """MAMix's label weight on the sample's own label y_i (Cheng, Mai & Lin 2023).

    lam: tensor of mixing weights in [0, 1] (the input is lam*x_i + (1 - lam)*x_j); n_i, n_j: class
    counts of y_i and y_j (tensors of the same shape, or numbers). With m = n_i^r / (n_i^r + n_j^r),
    w is piecewise linear through (lam, w) = (0, 0), (1 - m, 1/2), (1, 1).
    Returns w, same shape as lam. docs/reference.md section 4.3.
    Check: labkit.check.check_mamix_weight(mamix_weight)
    """
    raise NotImplementedError("write MAMix's label weight")
'''

STUBS["soft-clip-loss"] = '''def soft_clip_loss(image_emb, text_emb, temperature=1.0):
    """The soft CLIP loss (the simple PyTorch CLIP re-implementation that LumbarCLIP uses).

    image_emb X̂, text_emb Ŷ: (B, D) float tensors, used as given (the caller normalises them);
    temperature ζ. Logits P = Ŷ X̂ᵀ / ζ (text × image); targets 𝒯 = softmax((X̂ X̂ᵀ + Ŷ Ŷᵀ) / 2 · ζ)
    over each ROW; loss = mean over i of (CE(P, 𝒯)_i + CE(Pᵀ, 𝒯ᵀ)_i) / 2, where CE(P, 𝒯)_i =
    -sum_j 𝒯_ij log softmax(P)_ij over row i. The targets are NOT detached.
    Returns a scalar tensor. docs/reference.md section 5.2.
    Check: labkit.check.check_soft_clip_loss(soft_clip_loss)
    """
    raise NotImplementedError("write the soft CLIP loss")
'''
