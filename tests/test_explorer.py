"""The embedding explorer, driven headlessly through the FigureWidget callbacks a browser would fire."""
import numpy as np
import pytest
import torch
from plotly.callbacks import InputDeviceState, Points

from labkit import embed, plots, widgets
from labkit.data import load_dataset


@pytest.fixture
def digits(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path))
    return load_dataset("digits").subset(torch.arange(200))


def _points(indices, trace_index=0):
    return Points(point_inds=list(indices), xs=[0.0] * len(indices), ys=[0.0] * len(indices),
                  trace_name="points", trace_index=trace_index)


# ---------------------------------------------------------------------------- pure functions

def test_neighbors_of_exact_against_brute_force():
    x = np.random.default_rng(0).normal(size=(60, 5))
    idx, dist = embed.neighbors_of(x, 7, k=5, metric="euclidean")
    brute = np.linalg.norm(x - x[7], axis=1)
    brute[7] = np.inf
    assert idx.tolist() == np.argsort(brute)[:5].tolist()
    assert np.allclose(dist, np.sort(brute)[:5], atol=1e-5)
    idx_c, dist_c = embed.neighbors_of(x, 7, k=3, metric="cosine")
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    cos = 1 - unit @ unit[7]
    cos[7] = np.inf
    assert idx_c.tolist() == np.argsort(cos)[:3].tolist() and 7 not in idx_c
    with pytest.raises(ValueError, match="metric"):
        embed.neighbors_of(x, 0, metric="manhattan")
    with pytest.raises(ValueError, match="k must"):
        embed.neighbors_of(x, 0, k=60)
    assert embed.nearest_neighbors is embed.neighbors_of  # the old name still works


def test_prepared_index_equals_neighbors_of_and_brute_force():
    """One NeighborIndex queried many times gives neighbors_of's answer for each point, and the
    brute-force one (direct ‖a − b‖ / cosine in float64) up to rounding, for both metrics."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    x[5] = x[9]  # a duplicate pair: its euclidean distance is exactly 0, not the expansion's rounding
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    for metric in ("cosine", "euclidean"):
        index = embed.NeighborIndex(x, metric)
        for i in rng.choice(len(x), size=25, replace=False).tolist() + [5, 9]:
            idx, dist = index.query(i, k=7)
            ref_idx, ref_dist = embed.neighbors_of(x, i, k=7, metric=metric)
            assert idx.tolist() == ref_idx.tolist() and np.array_equal(dist, ref_dist)
            xd = x.astype(np.float64)
            brute = (np.linalg.norm(xd - xd[i], axis=1) if metric == "euclidean"
                     else 1 - unit.astype(np.float64) @ unit[i].astype(np.float64))
            brute[i] = np.inf
            assert i not in idx and np.all(np.diff(dist) >= 0)  # the duplicate pair ties: compare distances
            assert np.allclose(brute[idx], np.sort(brute)[:7], atol=1e-5) and np.allclose(dist, brute[idx], atol=1e-5)
    euclid = embed.NeighborIndex(x, "euclidean")
    assert euclid.query(5, k=1)[0].tolist() == [9] and euclid.query(5, k=1)[1].tolist() == [0.0]
    with pytest.raises(ValueError, match="metric"):
        embed.NeighborIndex(x, "manhattan")
    with pytest.raises(ValueError, match="k must"):
        euclid.query(0, k=len(x))


def test_selection_summary_and_search():
    s = embed.selection_summary([0, 1, 2, 5], labels=np.array([0, 1, 1, 2, 2, 1]), classes=["a", "b", "c"], sample=3)
    assert s["size"] == 4 and s["counts"] == {"b": 3, "a": 1} and len(s["sample"]) == 3
    assert set(s["sample"]) <= {0, 1, 2, 5}
    assert embed.selection_summary([])["size"] == 0
    hits = embed.search_points("Disc", ["normal", "bulge", "x"], ["", "disc bulge", "DISC"])
    assert hits.tolist() == [1, 2]
    assert embed.search_points("", ["a"]).size == 0


def test_colour_column_categorical_and_continuous():
    codes, names = plots.colour_column(np.array(["b", "a", "b"]))
    assert codes.tolist() == [1, 0, 1] and names == ["a", "b"]
    codes, values = plots.colour_column(np.array([0.5, 1.5]))
    assert codes is None and values.tolist() == [0.5, 1.5]
    assert plots.category_colours([0, 21])[1] == plots.PALETTE[1]
    assert plots.thumbnail_png(np.random.rand(1, 8, 8))[:4] == b"\x89PNG"


# ---------------------------------------------------------------------------- the widget

def test_click_shows_example_and_original_space_neighbours(digits):
    ex = widgets.embedding_explorer(digits.x, labels=digits.y, classes=digits.classes, images=digits.x,
                                    projection="pca", k=6)
    ex.views[0].data[0]._dispatch_on_click(_points([11]), InputDeviceState())
    expected, _ = embed.neighbors_of(digits.x, 11, k=6, metric="cosine")
    assert ex.focus == 11 and ex.highlighted.tolist() == expected.tolist()
    assert "example #11" in ex.detail.value and "<img" in ex.detail.value
    assert ex.neighbours.value.count("<img") == 6 and "original 64-d space" in ex.neighbours.value
    highlight = ex.views[0].data[1]
    assert np.allclose(highlight.x, ex.xy[0][expected, 0])
    ex.controls["k"].value = 3
    assert len(ex.highlighted) == 3 and len(ex.views[0].data[1].x) == 3


def test_lasso_selection_summarises_and_links_views(digits):
    ex = widgets.embedding_explorer({"pixels": digits.x}, labels=digits.y, classes=digits.classes, images=digits.x,
                                    compare={"noise": torch.randn(len(digits), 3)}, projection="pca")
    chosen = [0, 1, 2, 3, 4, 5, 6, 7]
    ex.views[1].data[0]._dispatch_on_selection(_points(chosen), None)
    counts = {c: int((digits.y[chosen] == int(c)).sum()) for c in digits.classes if (digits.y[chosen] == int(c)).any()}
    assert "8 points" in ex.selection_info.value
    assert dict(zip(ex.selection_bars.data[0].x, ex.selection_bars.data[0].y)) == counts
    assert ex.gallery.value.count("<img") == 8
    assert list(ex.views[0].data[0].selectedpoints) == chosen  # linked: selected in the other view too
    ex.views[0].data[0]._dispatch_on_hover(_points([3]), InputDeviceState())
    assert np.allclose(ex.views[1].data[2].x, [ex.xy[1][3, 0]])


def test_search_colour_by_projection_and_texts(digits):
    texts = [f"report {i}: disc bulge" if i % 10 == 0 else f"report {i}: normal" for i in range(len(digits))]
    ex = widgets.embedding_explorer(digits.x, labels=digits.y, classes=digits.classes, texts=texts,
                                    meta={"ink": digits.x.sum((1, 2, 3))}, projection="pca")
    ex.controls["search"].value = "bulge"
    assert ex.highlighted.tolist() == list(range(0, len(digits), 10))
    assert "20 points match" in ex.detail.value
    ex.controls["color_by"].value = "ink"
    assert ex.views[0].data[0].marker.showscale and len(ex.views[0].data) == 3
    ex.controls["color_by"].value = "class"
    assert len(ex.views[0].data) == 3 + 10
    before = np.array(ex.views[0].data[0].x)
    ex.controls["projection"].value = "tsne"
    assert not np.allclose(before, ex.views[0].data[0].x)
    ex.click(0)
    assert "disc bulge" in ex.detail.value
    ex.clear()
    assert ex.focus is None and len(ex.views[0].data[1].x) == 0 and ex.controls["search"].value == ""


def test_bad_inputs(digits):
    with pytest.raises(ValueError, match="same examples"):
        widgets.embedding_explorer(digits.x, compare=torch.zeros(5, 2))
    with pytest.raises(ValueError, match="images"):
        widgets.embedding_explorer(digits.x, images=digits.x[:10], projection="pca")
    with pytest.raises(ValueError, match="max_points"):
        widgets.embedding_explorer(digits.x, max_points=100, projection="pca")
    with pytest.raises(ValueError, match="projection"):
        widgets.embedding_explorer(digits.x, projection="mds")
    ex = widgets.embedding_explorer(digits.x, projection="pca")
    with pytest.raises(ValueError, match="index"):
        ex.click(len(digits))


# ---------------------------------------------------------------------------- trace deltas from the browser

def _heatmap_figure(shift: float) -> "plots.go.Figure":
    import plotly.graph_objects as go

    xs = (np.linspace(-1, 1, 30) + shift).astype(np.float32)
    z = (np.add.outer(xs, xs) > 0).astype(np.int64)
    return go.Figure([go.Heatmap(x=xs, y=xs, z=z, showscale=False),
                      go.Scatter(x=xs, y=xs, mode="markers")])


def _browser_delta(widget, trace: int, **props) -> dict:
    """What plotly's frontend sends after a restyle: the trace's defaults, plus every property
    whose copy in plotly.js differs from the widget's (a typed array comes back keyed by index)."""
    delta = {"uid": widget.data[trace].uid, "visible": True, "name": f"trace {trace}",
             "hoverlabel": {"namelength": 15, "font": {"size": 13}}, "index": trace}
    delta.update(props)
    return {"new": {"trace_deltas": [delta], "trace_edit_id": widget._last_trace_edit_id}}


def test_numpy_array_on_a_trace_breaks_plotlys_trace_delta_handler():
    """The cause of the log-console error of notebook 04: a FigureWidget holding a numpy array
    (a heatmap's x) cannot take the browser's index-keyed copy of it back."""
    import plotly.graph_objects as go

    raw = go.FigureWidget(_heatmap_figure(0.0))
    raw.data[0].x = raw.data[0].x + 0.5
    x = raw.data[0].x
    with pytest.raises(ValueError, match="truth value of an array"):
        raw._handler_js2py_traceDeltas(_browser_delta(raw, 0, x={str(i): float(v) for i, v in enumerate(x)}))


def test_labkit_figure_widgets_hold_lists_and_take_trace_deltas():
    """update_figure (every story panel) assigns lists, so the handler's path runs without error."""
    from labkit.controls import figure_widget, update_figure

    widget = figure_widget(_heatmap_figure(0.0))
    update_figure(widget, _heatmap_figure(0.5))

    def arrays(value):
        if isinstance(value, np.ndarray):
            return 1
        if isinstance(value, dict):
            return sum(arrays(v) for v in value.values())
        if isinstance(value, (list, tuple)):
            return sum(arrays(v) for v in value)
        return 0

    assert sum(arrays(t._props) for t in widget.data) == 0
    x = list(widget.data[0].x)
    widget._handler_js2py_traceDeltas(_browser_delta(widget, 0, x=x, xtype="array", zsmooth=False))
    widget._handler_js2py_traceDeltas(_browser_delta(widget, 1, marker={"symbol": "circle", "line": {"dash": "solid"}}))
    assert np.allclose(widget.data[0].x, np.linspace(-1, 1, 30) + 0.5, atol=1e-6)
    assert widget.data[0].zsmooth is False and widget.data[1].marker.symbol == "circle"


def test_notebook_04_panels_hold_no_numpy_arrays():
    panel = widgets.label_weight_explorer()
    panel.controls["r"].value = -0.5
    for trace in panel.figure.data:
        for value in trace._props.values():
            assert not isinstance(value, np.ndarray)


def test_only_the_settings_of_the_chosen_projection_are_shown(digits, tmp_path):
    ex = widgets.embedding_explorer(digits.x[:80], labels=digits.y[:80], projection="pca")
    c = ex.controls
    shown = lambda: sorted(n for n in ("n_neighbors", "min_dist", "perplexity") if c[n].layout.display != "none")
    assert shown() == []
    c["projection"].value = "umap"
    assert shown() == ["min_dist", "n_neighbors"]
    c["projection"].value = "tsne"
    assert shown() == ["perplexity"]
    c["projection"].value = "pca"
    assert shown() == []
    for name in ("projection", "color_by", "metric", "k", "search"):
        assert c[name].layout.display != "none"
