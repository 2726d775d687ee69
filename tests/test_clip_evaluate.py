"""Retrieval, modality gap, zero-shot, linear probe and metrics on hand-made cases."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from labkit.clip.evaluate import (classification_metrics, close_gap, linear_probe, modality_gap,
                                  retrieval_metrics, zero_shot)


def test_retrieval_perfect_match():
    x = torch.eye(4)
    r = retrieval_metrics(x, x.clone())
    assert all(r[f"{d}_R@{k}"] == 1.0 for d in ("i2t", "t2i") for k in (1, 5, 10))
    assert r["i2t_mean_rank"] == 1.0 and r["t2i_median_rank"] == 1.0


def test_retrieval_ranks_by_hand():
    img = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    # text 0 lies nearest image 1, text 1 nearest image 0, text 2 on image 2
    txt = torch.tensor([[0.1, 1.0, 0.0], [1.0, 0.1, 0.0], [0.0, 0.0, 1.0]])
    r = retrieval_metrics(img, txt, ks=(1, 2))
    # image 0: texts by similarity: 1 (1.0), 0 (0.1) -> rank 2; image 1: rank 2; image 2: rank 1
    assert r["i2t_R@1"] == pytest.approx(1 / 3) and r["i2t_R@2"] == 1.0
    assert r["i2t_mean_rank"] == pytest.approx(5 / 3) and r["i2t_median_rank"] == 2.0
    assert r["t2i_R@1"] == pytest.approx(1 / 3)
    # texts 0 and 1 identical reports (same group): every row now finds a positive first
    g = retrieval_metrics(img, txt, groups=torch.tensor([0, 0, 1]), ks=(1,))
    assert g["i2t_R@1"] == 1.0 and g["t2i_R@1"] == 1.0


def test_modality_gap_identities():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(10, 6, generator=g)
    same = modality_gap(x, 3 * x)
    assert same["gap"] == pytest.approx(0.0, abs=1e-6) and same["image_cone"] == pytest.approx(same["text_cone"])
    e1, e2 = torch.tensor([[1.0, 0.0]]).repeat(5, 1), torch.tensor([[0.0, 1.0]]).repeat(5, 1)
    m = modality_gap(e1, e2)
    assert m["gap"] == pytest.approx(math.sqrt(2)) and m["image_cone"] == pytest.approx(1.0)
    # mean off-diagonal cosine against the explicit pairwise mean
    xn = F.normalize(x, dim=-1)
    cos = xn @ xn.T
    assert same["image_cone"] == pytest.approx(float((cos.sum() - cos.diag().sum()) / 90), abs=1e-5)


def test_close_gap_shrinks_the_gap():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(50, 8, generator=g) + 3.0
    y = torch.randn(50, 8, generator=g) - 3.0
    before = modality_gap(x, y)["gap"]
    xs, ys = close_gap(x, y)
    assert modality_gap(xs, ys)["gap"] < 0.5 * before


def test_classification_metrics_by_hand():
    m = classification_metrics(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 1, 1]))
    assert m["accuracy"] == 0.75
    assert m["balanced_accuracy"] == pytest.approx((1 + 2 / 3) / 2)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert m["confusion"].tolist() == [[1, 0], [1, 2]]


class _KeywordModel(nn.Module):
    """Images are vectors; a text maps to the basis vector of the keyword it contains."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def encode_images(self, x):
        return F.normalize(x.flatten(1), dim=-1)

    def encode_texts(self, texts):
        keys = ["alpha", "beta", "gamma"]
        out = torch.stack([F.one_hot(torch.tensor(next(i for i, k in enumerate(keys) if k in t)), 3).float()
                           for t in texts])
        return F.normalize(out + 0.1, dim=-1)


def test_zero_shot_with_prompt_ensembles():
    images = torch.tensor([[1.0, 0.1, 0.0], [0.0, 1.0, 0.2], [0.1, 0.0, 1.0], [0.9, 0.2, 0.1]])
    labels = torch.tensor([0, 1, 2, 0])
    prompts = {"a": ["an alpha", "alpha again"], "b": ["beta"], "c": ["gamma", "a gamma", "gamma!"]}
    out = zero_shot(_KeywordModel(), images, prompts, labels)
    assert out["pred"].tolist() == [0, 1, 2, 0] and out["accuracy"] == 1.0 and out["scores"].shape == (4, 3)
    with pytest.raises(ValueError, match="at least 2 classes"):
        zero_shot(_KeywordModel(), images, {"a": ["alpha"]})


def test_linear_probe_separable():
    g = torch.Generator().manual_seed(2)
    y = torch.arange(60) % 3
    centres = torch.tensor([[10.0, 0.0], [0.0, 10.0], [-10.0, -10.0]])
    x = centres[y] + torch.randn(60, 2, generator=g)
    out = linear_probe(x[:40], y[:40], x[40:], y[40:])
    assert out["accuracy"] == 1.0 and out["macro_f1"] == 1.0 and out["balanced_accuracy"] == 1.0
    with pytest.raises(ValueError, match="at least 2 classes"):
        linear_probe(x[:5], torch.zeros(5, dtype=torch.long), x[5:], y[5:])


# ------------------------------------------------------------------ figures of notebook 05

def test_clip_figures():
    import numpy as np

    from labkit import plots, widgets

    imgs, reports = torch.rand(3, 1, 8, 8), ["a report", "another report", "a third"]
    fig = plots.report_gallery(imgs, reports, ["x", "y", "z"], ncols=2)
    assert len(fig.data) == 3 and any("another report" in a.text for a in fig.layout.annotations)
    with pytest.raises(ValueError, match="N reports"):
        plots.report_gallery(imgs, reports[:2])
    fig = plots.target_heatmaps({"hard": torch.eye(3), "soft": torch.full((3, 3), 1 / 3)}, ["a", "a", "b"])
    assert len(fig.data) == 2 and np.allclose(fig.data[1].z, 1 / 3)
    xy = np.random.default_rng(0).standard_normal((8, 2))
    mod, lab = np.r_[np.zeros(4), np.ones(4)], np.r_[np.arange(4) % 2, np.arange(4) % 2]
    fig = plots.joint_embedding(xy, lab, mod, color_by="class", class_names=["p", "q"], links=2)
    assert fig.data[-1].name == "pairs" and sum(len(t.x) for t in fig.data[:-1]) == 8
    assert set(fig.data[0].marker.symbol) == {"circle", "x"}
    with pytest.raises(ValueError, match="color_by"):
        plots.joint_embedding(xy, lab, mod, color_by="size")
    summary = [{"head": h, "loss": l, "m": 0.5, "m_std": 0.1} for h in ("linear", "mlp") for l in ("soft", "hard")]
    fig = plots.ablation_bars(summary, "m")
    assert len(fig.data) == 2 and list(fig.data[0].x) == ["linear", "mlp"]
    views = {("after", "linear"): dict(xy=xy, labels=lab, modality=mod, gap=0.5)}
    fig = widgets.clip_embedding_figure(views, stage="after", head="linear")
    assert "0.50" in fig.layout.title.text
    with pytest.raises(ValueError, match="no view"):
        widgets.clip_embedding_figure(views, stage="before", head="linear")
    explorer = widgets.clip_explorer(views, class_names=["p", "q"])
    explorer.controls["color_by"].value = "class"
    assert len(explorer.figure.data) == 2
