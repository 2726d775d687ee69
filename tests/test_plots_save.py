"""Accessible, exportable figures: the Okabe–Ito palette with marker shapes as a second channel,
``plots.save`` (self-contained HTML always; PNG/SVG through kaleido when it works here) and alt text."""
import html
import importlib.util
import re

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from labkit import plots

OKABE_ITO = {"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"}


def test_palette_is_okabe_ito_first_and_keeps_its_old_names():
    assert set(plots.OKABE_ITO.values()) == OKABE_ITO
    assert set(plots.PALETTE[:7]) < OKABE_ITO and len(plots.PALETTE) == len(set(plots.PALETTE)) == 10
    assert "#F0E442" in plots.PALETTE  # all eight are used, yellow late (pale on white)
    assert plots.category_colours([0, 21])[1] == plots.PALETTE[1]  # cycled as before
    assert len(set(plots.MARKERS)) == len(plots.MARKERS) == 10


def test_every_class_up_to_100_has_its_own_colour_and_shape():
    styles = {(s["color"], s["symbol"]) for s in map(plots.class_style, range(100))}
    assert len(styles) == 100
    assert list(plots.category_markers([0, 3, 10])) == [plots.class_style(c)["symbol"] for c in (0, 3, 10)]
    assert plots.bar_style(1)["pattern"]["shape"] != plots.bar_style(0)["pattern"]["shape"]


def test_core_figures_use_marker_shapes_as_a_second_channel():
    fig = plots.embedding_scatter(torch.randn(40, 2), torch.arange(40) % 12)
    symbols = [t.marker.symbol for t in fig.data]
    colours = [t.marker.color for t in fig.data]
    assert len(set(zip(colours, symbols))) == 12 and symbols[0] != symbols[1]
    both = plots.embedding_comparison({"a": np.random.rand(20, 2), "b": np.random.rand(20, 2)}, np.arange(20) % 4)
    assert [t.marker.symbol for t in both.data[:4]] == plots.MARKERS[:4]
    curves = plots.training_curves({"a": [{"loss": 1.0}], "b": [{"loss": 2.0}]})
    assert curves.data[0].marker.symbol != curves.data[1].marker.symbol


def test_alt_text_is_one_line_from_title_traces_and_axes():
    fig = plots.embedding_scatter(np.random.rand(30, 2), np.arange(30) % 3, classes=["a", "b", "c"],
                                  title="UMAP of <b>digits</b>")
    text = plots.alt_text(fig)
    assert text == 'Scatter plot "UMAP of digits": 3 series (a, b, c), 30 points.'
    curves = plots.training_curves({f"m{i}": [{"epoch": 1, "loss": 1.0}] for i in range(8)})
    assert "Line chart" in plots.alt_text(curves) and "and 2 more" in plots.alt_text(curves)
    bars = go.Figure(go.Bar(x=["a"], y=[1]), layout=dict(xaxis_title="class", yaxis_title="count"))
    assert plots.alt_text(bars) == "Bar chart: x axis: class, y axis: count."
    assert "\n" not in plots.alt_text(go.Figure()) and plots.alt_text(go.Figure()).startswith("Empty figure")


def test_save_html_is_self_contained_and_carries_the_alt_text(tmp_path):
    fig = plots.class_bars({"cat": 3, "dog": 5}, title="Counts")
    out = plots.save(fig, tmp_path / "sub" / "counts.html", alt='Bars: 3 cats & 5 "dogs"')
    page = out.read_text(encoding="utf-8")
    assert out == tmp_path / "sub" / "counts.html"
    assert "<title>Bars: 3 cats &amp; 5 &quot;dogs&quot;</title>" in page
    assert re.search(r'class="plotly-graph-div" role="img" aria-label="Bars: 3 cats &amp; 5 &quot;dogs&quot;"', page)
    assert not re.search(r"<script[^>]*src=", page), "plotly.js must be embedded, not loaded from a CDN"
    assert "Plotly.newPlot" in page and len(page) > 1_000_000
    default = plots.save(fig, tmp_path / "default.HTML").read_text(encoding="utf-8")
    assert f"<title>{html.escape(plots.alt_text(fig))}</title>" in default


def test_save_refuses_what_it_cannot_write(tmp_path):
    fig = plots.class_bars({"a": 1})
    with pytest.raises(ValueError, match=r"\.html, \.png, \.svg"):
        plots.save(fig, tmp_path / "fig.gif")
    with pytest.raises(ValueError, match="go.Figure"):
        plots.save({"data": []}, tmp_path / "fig.html")
    with pytest.raises(ValueError, match="non-empty"):
        plots.save(fig, tmp_path / "fig.html", alt="  ")


def _kaleido_works() -> bool:
    if importlib.util.find_spec("kaleido") is None:
        return False
    try:
        import plotly.io as pio
        pio.to_image(go.Figure(), format="png", width=50, height=50)
        return True
    except Exception:  # noqa: BLE001 - no Chrome, no kaleido: the static export is unavailable here
        return False


def test_save_png_without_kaleido_says_how_to_get_it(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "kaleido" else real(name, *a))
    with pytest.raises(RuntimeError, match=r"pip install kaleido.*\.html"):
        plots.save(plots.class_bars({"a": 1}), tmp_path / "fig.png")
    assert not (tmp_path / "fig.png").exists()


@pytest.mark.skipif(not _kaleido_works(), reason="kaleido (with a Chrome) is not available here")
def test_save_png_and_svg_with_the_alt_text_beside(tmp_path):
    fig = plots.class_bars({"a": 1, "b": 2}, title="Two bars")
    png = plots.save(fig, tmp_path / "bars.png", alt="two bars")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "bars.png.alt.txt").read_text() == "two bars\n"
    svg = plots.save(fig, tmp_path / "bars.svg", alt="two bars").read_text()
    assert "<title>two bars</title>" in svg and 'aria-label="two bars"' in svg


def test_show_puts_the_alt_text_beneath_the_figure(monkeypatch):
    shown, displayed = [], []
    fig = go.Figure(go.Bar(x=["a", "b"], y=[1, 2]), layout={"title": "counts"})
    monkeypatch.setattr(go.Figure, "show", lambda self, *a, **k: shown.append(self))
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: displayed.append((obj, raw)))
    assert plots.show(fig, alt="Two bars:   b is twice a.") is None  # no Out[] line under the caption
    assert shown == [fig]
    (bundle, raw), = displayed
    assert raw and bundle["text/plain"] == "Figure: Two bars: b is twice a."
    assert 'role="note"' in bundle["text/html"] and "b is twice a." in bundle["text/html"]
    plots.show(fig)  # default: the derived description
    assert displayed[-1][0]["text/plain"] == "Figure: " + plots.alt_text(fig)
    with pytest.raises(ValueError, match="non-empty"):
        plots.show(fig, alt="  ")
    with pytest.raises(ValueError, match="go.Figure"):
        plots.show({"data": []})
