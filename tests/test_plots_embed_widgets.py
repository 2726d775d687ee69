import subprocess
import sys

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from labkit import embed as E
from labkit import controls, plots, widgets
from labkit.linalg import pca


def test_embedding_scatter_traces_per_class_and_highlight():
    fig = plots.embedding_scatter(torch.randn(30, 2), torch.arange(30) % 3, classes=["a", "b", "c"],
                                  highlight=[0, 1])
    assert [t.name for t in fig.data] == ["a", "b", "c", "highlighted"]
    assert sum(len(t.x) for t in fig.data[:3]) == 30
    cont = plots.embedding_scatter(np.zeros((4, 2)), color=[0.0, 1.0, 2.0, 3.0])
    assert cont.data[0].marker.showscale
    with pytest.raises(ValueError, match="shape"):
        plots.embedding_scatter(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="labels"):
        plots.embedding_scatter(np.zeros((4, 2)), [0, 1])


def test_confusion_heatmap_image_grid_and_curves():
    fig = plots.confusion_matrix(torch.tensor([[3, 1], [0, 4]]), ["x", "y"])
    assert np.allclose(np.array(fig.data[0].z), [[0.75, 0.25], [0, 1]])
    with pytest.raises(ValueError, match="square"):
        plots.confusion_matrix(np.zeros((2, 3)))
    grid = plots.image_grid(torch.ones(5, 1, 8, 8), [str(i) for i in range(5)], ncols=3)
    assert np.array(grid.data[0].z).shape == (8 * 2 + 1, 8 * 3 + 2) and len(grid.layout.annotations) == 5
    rgb = plots.image_grid(torch.rand(2, 3, 4, 4))
    assert isinstance(rgb.data[0], go.Image)
    curves = plots.training_curves({"a": [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.0}]}, keys=["loss"])
    assert list(curves.data[0].y) == [2.0, 1.0]
    assert plots.heatmap(np.eye(3)).data[0].z.shape == (3, 3)


def test_project_2d_pca_is_cached_atomically(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path))
    x = torch.randn(40, 6, generator=torch.Generator().manual_seed(0))
    xy = E.project_2d(x, "pca")
    files = list((tmp_path / "projections").iterdir())
    assert xy.shape == (40, 2) and len(files) == 1 and files[0].suffix == ".npy"
    assert not any(".tmp" in f.name for f in files)
    np.save(files[0], np.full((40, 2), 7.0, dtype=np.float32))  # a cached result is reused
    assert (E.project_2d(x, "pca") == 7.0).all()
    assert not (E.project_2d(x, "pca", cache=False) == 7.0).all()
    assert E.cache_path(x.numpy(), "pca", seed=0) != E.cache_path(x.numpy(), "pca", seed=1)
    assert np.allclose(E.project_2d(x, "pca", cache=False), pca(x, 2).numpy(), atol=1e-5)  # the package's one PCA
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        E.project_2d(torch.randn(10, 1), "pca")


def test_project_2d_tsne_and_bad_input(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path))
    assert E.project_2d(np.random.rand(30, 3), "tsne", perplexity=5).shape == (30, 2)
    with pytest.raises(ValueError, match="umap, pca, tsne"):
        E.project_2d(np.zeros((5, 2)), "mds")
    with pytest.raises(ValueError, match="NaN"):
        E.project_2d(np.full((5, 2), np.nan), "pca")
    with pytest.raises(ValueError, match="N >= 3"):
        E.project_2d(np.zeros((2, 2)), "pca")


def test_interactive_figure_updates_in_place_and_reports_bad_settings():
    def fig_fn(n=3, k=2):
        if n == 13:
            raise ValueError("thirteen is not allowed")
        return plots.embedding_scatter(np.random.rand(n, 2), np.arange(n) % k)

    panel = widgets.interactive_figure(fig_fn, {"n": widgets.int_slider(3, 1, 20), "k": widgets.int_slider(2, 1, 5)})
    fw = panel.figure
    assert len(fw.data) == 2
    panel.controls["n"].value = 10
    assert panel.figure is fw and len(fw.data[0].x) == 5
    panel.controls["k"].value = 5
    assert len(fw.data) == 5
    panel.controls["n"].value = 13
    assert "thirteen" in panel.status.value and len(fw.data) == 5
    panel.controls["n"].value = 12
    assert panel.status.value == ""
    assert panel.controls["n"].continuous_update is False


def test_embedding_explorer_switches_embedding_and_colour(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path))
    feats = {"a": np.random.rand(50, 4), "b": np.random.rand(50, 3)}
    panel = widgets.embedding_explorer(feats, labels=np.arange(50) % 4, classes=list("wxyz"),
                                       meta={"size": np.linspace(0, 1, 50)}, projection="pca")
    fig = panel.views[0]
    assert [t.name for t in fig.data[3:]] == list("wxyz")
    panel.controls["color_by"].value = "size"
    assert len(fig.data) == 3 and fig.data[0].marker.showscale
    panel.controls["space"].value = "b"
    assert fig.layout.title.text.startswith("b")
    with pytest.raises(ValueError, match="same examples"):
        widgets.embedding_explorer({"a": np.zeros((5, 2)), "b": np.zeros((6, 2))})


def test_explorer_figure_static_view(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path))
    fig = widgets.explorer_figure(np.random.rand(30, 4), method="pca", color=np.arange(30) % 3)
    assert len(fig.data) == 3


def test_embed_imports_no_plotly_and_plots_keeps_its_names():
    code = "import sys, labkit.embed; assert 'plotly' not in sys.modules, 'labkit.embed imported plotly'"
    subprocess.run([sys.executable, "-c", code], check=True)
    from labkit._arrays import to_numpy
    from labkit.plots import clip, cll, core, imbalance, mixup

    assert plots.to_numpy is to_numpy is E.to_numpy
    for module in (core, cll, mixup, imbalance, clip):
        assert module.__doc__ and all(getattr(plots, name) is getattr(module, name) for name in module.__all__)
    assert plots.surrogate_curves is cll.surrogate_curves and plots.PALETTE is core.PALETTE


def test_widgets_reexports_the_controls():
    for name in ("slider", "int_slider", "dropdown", "update_figure", "interactive_figure", "InteractiveFigure"):
        assert getattr(widgets, name) is getattr(controls, name)
    assert widgets.dropdown([("a", 1), ("b", 2)]).value == 1
