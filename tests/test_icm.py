"""Intra-Cluster Mixup: k-means, cluster features and purity, intra-cluster partners, the CLL augment."""
import pytest
import torch

from labkit.data import load_dataset
from labkit.mix import (cluster_features, cluster_noise_sweep, cluster_purity, intra_cluster_partners, kmeans,
                        make_cll_augment, micm_partners, random_partners)
from labkit.mix.icm import CLLAugment


def same_partition(a, b):
    """True when two labelings define the same partition (equal up to renaming clusters)."""
    pairs = torch.unique(torch.stack([a, b], 1), dim=0)
    return len(pairs) == len(torch.unique(a)) == len(torch.unique(b))


def test_partners_stay_in_their_cluster_and_differ_when_possible():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(40, (512,), generator=g)
    sizes = torch.bincount(ids, minlength=40)
    for seed in range(5):
        p = intra_cluster_partners(ids, seed=seed)
        assert torch.equal(ids[p], ids)
        alone = sizes[ids] == 1
        assert torch.equal(p == torch.arange(512), alone)


def test_singletons_are_their_own_partner():
    ids = torch.tensor([7, 3, 3, 9, 3])
    p = intra_cluster_partners(ids, seed=0)
    assert p[0] == 0 and p[3] == 3
    assert set(p[[1, 2, 4]].tolist()) <= {1, 2, 4} and bool((p[[1, 2, 4]] != torch.tensor([1, 2, 4])).all())


def test_micm_two_distinct_mates():
    ids = torch.randint(8, (300,), generator=torch.Generator().manual_seed(1))
    p = micm_partners(ids, seed=0)
    assert p.shape == (300, 2)
    assert torch.equal(ids[p[:, 0]], ids) and torch.equal(ids[p[:, 1]], ids)
    me = torch.arange(300)
    assert bool((p[:, 0] != p[:, 1]).all()) and bool((p != me[:, None]).all())
    # a pair cluster: both partners are the single mate
    assert micm_partners(torch.tensor([0, 0, 1]), seed=0).tolist() == [[1, 1], [0, 0], [2, 2]]


def _law(draw, n, draws):
    counts = torch.zeros(n, n)
    for _ in range(draws):
        counts[torch.arange(n), draw()] += 1
    return counts / draws


def test_one_cluster_gives_mixups_partner_law():
    n, draws = 6, 6000
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
    icm = _law(lambda: intra_cluster_partners(torch.zeros(n, dtype=torch.long), g1), n, draws)
    mixup = _law(lambda: random_partners(n, g2), n, draws)
    sd = (2 * (1 / (n - 1)) * (1 - 1 / (n - 1)) / draws) ** 0.5
    assert icm.diag().sum() == 0 and mixup.diag().sum() == 0
    assert float((icm - mixup).abs().max()) < 5 * sd
    off = ~torch.eye(n, dtype=torch.bool)
    assert float((icm[off] - 1 / (n - 1)).abs().max()) < 5 * sd


def test_partners_are_seeded():
    ids = torch.randint(5, (100,), generator=torch.Generator().manual_seed(0))
    assert torch.equal(intra_cluster_partners(ids, seed=3), intra_cluster_partners(ids, seed=3))
    assert not torch.equal(intra_cluster_partners(ids, seed=3), intra_cluster_partners(ids, seed=4))


def test_kmeans_recovers_separated_blobs():
    g = torch.Generator().manual_seed(0)
    centres = torch.eye(5, 8) * 20
    truth = torch.arange(500) % 5
    x = centres[truth] + torch.randn(500, 8, generator=g)
    res = kmeans(x, 5, seed=0)
    assert res.labels.shape == (500,) and res.centers.shape == (5, 8)
    assert same_partition(res.labels, truth)
    within = float(((x - centres[truth]) ** 2).sum())
    assert res.inertia <= within + 1e-3  # the true centres are not better than the fitted ones


def test_kmeans_matches_scikit_learn_inertia():
    from sklearn.cluster import KMeans

    x = torch.rand(3000, 16, generator=torch.Generator().manual_seed(0))
    ours = kmeans(x, 20, seed=0).inertia
    theirs = KMeans(20, n_init=1, random_state=0).fit(x.numpy()).inertia_
    assert abs(ours / theirs - 1) < 0.05


def test_kmeans_deterministic_and_inertia_consistent():
    x = torch.randn(400, 3, generator=torch.Generator().manual_seed(2))
    a, b = kmeans(x, 7, seed=5), kmeans(x, 7, seed=5)
    assert torch.equal(a.labels, b.labels) and a.inertia == b.inertia
    recomputed = float(((x - a.centers[a.labels]) ** 2).sum())
    assert a.inertia == pytest.approx(recomputed, rel=1e-4)
    assert kmeans(x, 1).inertia == pytest.approx(float(((x - x.mean(0)) ** 2).sum()), rel=1e-4)


@pytest.mark.parametrize("k", [0, 11, 2.5])
def test_kmeans_bad_k(k):
    with pytest.raises(ValueError, match="k must be"):
        kmeans(torch.randn(10, 2), k)


def test_cluster_purity_by_hand():
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    y = torch.tensor([1, 1, 2, 0, 0, 2])
    assert cluster_purity(labels, y) == pytest.approx(5 / 6)
    # pair purity: cluster 0 members see 1/2, 1/2, 0 same-class mates; cluster 1: 1, 1; singleton: 1
    assert cluster_purity(labels, y, kind="pair") == pytest.approx((0.5 + 0.5 + 0 + 1 + 1 + 1) / 6)
    with pytest.raises(ValueError, match="same length"):
        cluster_purity(labels, y[:3])


def test_cluster_features_are_unit_norm():
    data = load_dataset("digits").subset(range(200))
    for method in ("pixels", "pca"):
        f = cluster_features(data, method=method, dim=20)
        assert len(f) == 200 and torch.allclose(f.norm(dim=1), torch.ones(200), atol=1e-5)
    assert cluster_features(data, method="pca", dim=20).shape == (200, 20)
    with pytest.raises(ValueError, match="valid"):
        cluster_features(data, method="sift")
    with pytest.raises(ValueError, match="needs a model"):
        cluster_features(data, method="model")


def _batch(data, k=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    cl = (data.y + torch.randint(1, k, (len(data),), generator=g)) % k
    return cl


def test_cll_augment_contract_and_icm_cuts_noise():
    data = load_dataset("digits")
    cl = _batch(data)
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:512]
    noise = {}
    for kind in ("mixup", "icm", "micm", "mixup-oracle"):
        aug = make_cll_augment(kind, data, num_classes=10, clusters=20, seed=0)
        x, t, logs = aug(data.x[idx], cl[idx], idx, data.y[idx])
        assert x.shape == data.x[idx].shape and t.shape == (512, 10) and t.dtype == torch.float32
        assert torch.allclose(t.sum(1), torch.ones(512), atol=1e-5)
        assert set(logs) == {"pair_noise", "noisy_mass", "mixed_fraction", "noisy_fraction"}
        assert all(isinstance(v, float) for v in logs.values())
        assert logs["noisy_fraction"] == pytest.approx(logs["pair_noise"] * logs["mixed_fraction"])
        noise[kind] = logs
    assert noise["mixup-oracle"]["pair_noise"] == 0.0
    assert noise["mixup"]["mixed_fraction"] == 1.0  # random partners: everyone mixes
    assert noise["icm"]["pair_noise"] < noise["mixup"]["pair_noise"] / 2  # PCA clusters are purer than chance


def test_icm_pair_noise_counts_only_mixed_examples_hand_made_batch():
    # Cluster ids: 0 and 1 share cluster 7; 2 is alone in cluster 8 within this batch; 3 and 4 share 9.
    x = torch.arange(5, dtype=torch.float32)[:, None].repeat(1, 2)
    y = torch.tensor([0, 1, 2, 3, 4])
    cl = torch.tensor([1, 0, 0, 2, 0])  # pair (0,1) noisy (ȳ_0 = y_1); (3,4) clean; 2 has a noisy-looking
    ids = torch.tensor([7, 7, 8, 9, 9])  # CL (ȳ_2 = 0 = y_0) but nobody to mix with: unmixed
    aug = CLLAugment("icm", 5, 1.0, 1.0, "input", ids, torch.Generator().manual_seed(0))
    xm, t, logs = aug(x, cl, torch.arange(5), y)
    assert torch.equal(xm[2], x[2]) and torch.equal(t[2], torch.nn.functional.one_hot(cl[2], 5).float())
    assert logs["mixed_fraction"] == pytest.approx(4 / 5)
    assert logs["pair_noise"] == pytest.approx(2 / 4)  # 0 and 1 noisy, 3 and 4 clean; 2 not counted
    assert logs["noisy_fraction"] == pytest.approx(2 / 5)


def test_simsiam_is_the_configuration_name_of_the_ssl_features():
    data = load_dataset("digits").subset(range(120))
    a = make_cll_augment("icm", data, num_classes=10, clusters=5, cluster_method="simsiam", seed=0)
    assert a.cluster_ids.shape == (120,) and int(a.cluster_ids.max()) < 5


def test_lambda_per_batch_is_one_weight_for_the_whole_batch():
    data = load_dataset("digits").subset(range(200))
    cl = _batch(data)
    idx = torch.arange(64)
    for kind, parts in (("mixup", 2), ("micm", 3)):
        per_batch = make_cll_augment(kind, data, num_classes=10, clusters=5, seed=0, lam_per="batch")
        per_example = make_cll_augment(kind, data, num_classes=10, clusters=5, seed=0)
        wb, we = per_batch.weights(64, "cpu"), per_example.weights(64, "cpu")
        assert wb.shape == we.shape == (64, parts)
        assert torch.equal(wb, wb[:1].expand_as(wb)) and not torch.equal(we, we[:1].expand_as(we))
        assert torch.allclose(wb.sum(1), torch.ones(64))
    aug = make_cll_augment("mixup", data, num_classes=10, seed=1, lam_per="batch")
    x, t, _ = aug(data.x[idx], cl[idx], idx, data.y[idx])
    # one λ: every mixed target puts the same weight on its own complementary label
    own = t[torch.arange(64), cl[idx]]
    other = t.sum(1) - own
    assert torch.allclose(t.sum(1), torch.ones(64))
    shared = own[other > 1e-6]  # partner with another CL: own weight is λ, the same λ for everyone
    assert len(shared) > 10 and torch.allclose(shared, shared[:1].expand_as(shared))
    with pytest.raises(ValueError, match="lam_per"):
        make_cll_augment("mixup", data, num_classes=10, lam_per="epoch")


def test_cll_augment_mix_prob_zero_is_identity():
    data = load_dataset("digits").subset(range(300))
    cl = _batch(data)
    idx = torch.arange(300)
    aug = make_cll_augment("icm", data, num_classes=10, clusters=10, mix_prob=0.0, seed=0)
    x, t, logs = aug(data.x, cl, idx, data.y)
    assert torch.equal(x, data.x) and torch.equal(t, torch.nn.functional.one_hot(cl, 10).float())
    assert logs["pair_noise"] == 0.0 and logs["mixed_fraction"] == 0.0 and logs["noisy_fraction"] == 0.0


def test_cll_augment_bad_inputs():
    data = load_dataset("digits").subset(range(100))
    with pytest.raises(ValueError, match="valid"):
        make_cll_augment("cutmix", data, num_classes=10)
    with pytest.raises(ValueError, match="alpha"):
        make_cll_augment("mixup", data, num_classes=10, alpha=0)
    with pytest.raises(ValueError, match="clusters"):
        make_cll_augment("icm", data, num_classes=10, clusters=101)
    with pytest.raises(ValueError, match="mix_prob"):
        make_cll_augment("mixup", data, num_classes=10, mix_prob=1.5)
    aug = make_cll_augment("mixup", data, num_classes=10, seed=0)
    with pytest.raises(ValueError, match="same length"):
        aug(data.x, torch.zeros(99, dtype=torch.long), torch.arange(100), data.y)


# ----------------------------------------------------------------- figures and widgets of 02/03

def test_cll_mix_pairs_flags_exactly_the_noisy_pairs():
    from labkit import plots

    x = torch.rand(4, 1, 8, 8)
    y = torch.tensor([0, 1, 2, 3])
    cl = torch.tensor([1, 3, 0, 2])
    partner = torch.tensor([1, 0, 3, 2])   # rows 0, 1 (ȳ_0 = y_1) and 2, 3 (ȳ_3 = y_2) are noisy
    fig = plots.cll_mix_pairs(x, y, cl, partner, 0.5, n=4)
    assert len(fig.layout.shapes) == 4
    clean = plots.cll_mix_pairs(x, y, torch.tensor([3, 2, 1, 0]), partner, 0.5, n=4)
    assert len(clean.layout.shapes) == 0
    with pytest.raises(ValueError, match="same length"):
        plots.cll_mix_pairs(x, y[:3], cl, partner, 0.5)


def test_noise_figures_follow_the_closed_form():
    from labkit import plots

    fig = plots.noise_vs_classes(max_classes=8, alpha=0.2, n=20_000, transition="uniform")
    closed, measured = fig.data[0], fig.data[1]
    ks = list(closed.x)
    assert [round(v, 6) for v in closed.y] == [round((2 * k - 3) / (k * (k - 1)), 6) for k in ks]
    assert max(abs(a - b) for a, b in zip(closed.y, measured.y)) < 0.015
    with pytest.raises(ValueError, match="max_classes"):
        plots.noise_vs_classes(max_classes=2)
    data = load_dataset("digits").subset(range(300))
    rows = cluster_noise_sweep(cluster_features(data, "pca"), data.y, _batch(data), (1, 10), seed=0)
    assert rows[0]["noise"] == pytest.approx(rows[0]["closed_form"], abs=0.05)
    fig = plots.noise_vs_clusters(rows)
    assert list(fig.data[0].x) == [1, 10]


def test_cluster_widget_and_bars():
    from labkit import plots, widgets

    data = load_dataset("digits").subset(range(300))
    feats = {"pca": cluster_features(data, "pca"), "pixels": cluster_features(data, "pixels")}
    xy = feats["pca"][:, :2]
    panel = widgets.cluster_explorer(feats, xy, data.y, _batch(data), clusters=10)
    for color_by in ("class", "noise", "cluster"):
        panel.controls["color_by"].value = color_by
        assert panel.status.value == ""
    panel.controls["method"].value = "pixels"
    assert "pixels features, 10 clusters" in panel.figure.layout.title.text
    with pytest.raises(ValueError, match="color_by"):
        plots.cluster_map(xy, torch.zeros(300), data.y, "purity")
    summary = [{"setting": "a", "augment": "none", "test_accuracy": 0.5, "test_accuracy_std": 0.1},
               {"setting": "a", "augment": "icm", "test_accuracy": 0.7, "test_accuracy_std": 0.0}]
    bars = plots.augment_bars(summary)
    assert [t.name for t in bars.data] == ["none", "icm"] and list(bars.data[1].y) == [0.7]


def test_ssl_views_and_encoder():
    from labkit.device import make_generator
    from labkit.mix.ssl import augment_views, train_simsiam

    data = load_dataset("digits").subset(range(128))
    a = augment_views(data.x, make_generator(0))
    assert a.shape == data.x.shape and float(a.min()) >= 0 and float(a.max()) <= 1
    assert torch.equal(a, augment_views(data.x, make_generator(0)))
    assert not torch.allclose(a, data.x)
    model, history = train_simsiam(data, epochs=2, batch_size=64, seed=0, return_history=True)
    assert len(history) == 2 and "z_std" in history.keys()
    f = cluster_features(data, "model", model=model)
    assert f.shape == (128, model.backbone.feature_dim)
    assert torch.allclose(f.norm(dim=1), torch.ones(128), atol=1e-5)


def test_kmeans_refuses_a_chunk_size_that_is_not_positive():
    x = torch.randn(30, 2)
    for bad in (-1, 0, 2.5):
        with pytest.raises(ValueError, match="chunk_size"):
            kmeans(x, 3, chunk_size=bad)


@pytest.mark.parametrize("y, match", [([0, -1, 1, 1], "0.."), ([0.5, 1.5, 1, 1], "fractional")])
def test_cluster_purity_refuses_labels_that_are_not_classes(y, match):
    with pytest.raises(ValueError, match=match):
        cluster_purity([0, 0, 1, 1], y)
