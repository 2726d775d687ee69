"""Figures for slides and reports: :func:`save` to HTML, PNG or SVG with an alt text, and
:func:`alt_text`, a one-line description derived from a figure's title and traces.

``save(fig, "fig.html")`` needs nothing: the file is self-contained (plotly.js embedded, no network).
``.png`` / ``.svg`` / ``.pdf`` use plotly's static export, which needs the optional ``kaleido``
package (``pip install kaleido``) and a Chrome or Chromium on the machine; without them ``save``
says so and suggests HTML. Every saved figure carries its alt text: in HTML as the page title and
the figure's ``aria-label``, in SVG as its ``<title>``, and for every static format in a text file
beside it (``fig.png.alt.txt``), for slide software and screen readers.
"""
from __future__ import annotations

import html
import importlib.util
import re
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio

__all__ = ["save", "show", "alt_text", "SAVE_FORMATS"]

STATIC_FORMATS = (".png", ".svg", ".pdf", ".jpeg", ".jpg", ".webp")
SAVE_FORMATS = (".html",) + STATIC_FORMATS
_KINDS = {"scatter": "scatter plot", "scattergl": "scatter plot", "bar": "bar chart", "heatmap": "heatmap",
          "table": "table", "image": "image", "histogram": "histogram", "box": "box plot", "violin": "violin plot"}
_MAX_NAMES = 6


def _plain(text) -> str:
    """Text without plotly's HTML tags (<b>, <br>) and with collapsed whitespace."""
    return " ".join(re.sub(r"<[^>]+>", " ", str(text or "")).split())


def _kind(trace) -> str:
    if trace.type in ("scatter", "scattergl"):
        mode = trace.mode or "lines+markers"
        return "line chart" if "lines" in mode else "scatter plot"
    return _KINDS.get(trace.type, f"{trace.type} chart")


def alt_text(fig: go.Figure) -> str:
    """A one-line description of a figure from its title, trace kinds, series names, point counts
    and axis titles, e.g. ``Scatter plot "UMAP of digits": 10 series (0, 1, 2, 3, 4, 5 and 4 more),
    1797 points.`` Write a better one by hand when the figure makes a point (``save(..., alt=...)``)."""
    if not isinstance(fig, go.Figure):
        raise ValueError(f"alt_text needs a plotly go.Figure, got {type(fig).__name__}")
    kinds = list(dict.fromkeys(_kind(t) for t in fig.data)) or ["empty figure"]
    text = " and ".join(kinds)
    text = text[0].upper() + text[1:]
    title = _plain(fig.layout.title.text)
    if title:
        text += f' "{title}"'
    names = list(dict.fromkeys(_plain(t.name) for t in fig.data if t.name and t.showlegend is not False))
    parts = []
    if len(names) > 1:
        shown = ", ".join(names[:_MAX_NAMES]) + (f" and {len(names) - _MAX_NAMES} more" if len(names) > _MAX_NAMES else "")
        parts.append(f"{len(names)} series ({shown})")
    elif names:
        parts.append(f"series {names[0]}")
    points = sum(len(t.x) for t in fig.data if t.type in ("scatter", "scattergl") and t.x is not None
                 and "markers" in (t.mode or "markers") and "lines" not in (t.mode or ""))
    if points:
        parts.append(f"{points} points")
    axes = [f"{a} axis: {_plain(getattr(fig.layout, a + 'axis').title.text)}" for a in ("x", "y")
            if _plain(getattr(fig.layout, a + "axis").title.text)]
    parts += axes
    return text + (": " + ", ".join(parts) if parts else "") + "."


def show(fig: go.Figure, alt: str | None = None) -> None:
    """Show ``fig`` in the notebook with its alt text as a caption line beneath it
    (``Figure: <alt>``, in HTML a ``<p role="note" class="labkit-alt">``), so screen readers, the
    course site and readers of a notebook without a kernel get the one-line description the figure
    stands for. ``alt``: written by hand where the figure makes a point (default :func:`alt_text`).
    Returns nothing, so a cell that ends with it shows no ``Out[]`` line."""
    from IPython.display import display

    if not isinstance(fig, go.Figure):
        raise ValueError(f"show needs a plotly go.Figure, got {type(fig).__name__}")
    alt = " ".join(str(alt).split()) if alt is not None else alt_text(fig)
    if not alt:
        raise ValueError("alt must be a non-empty one-line description of the figure (or None for the default)")
    fig.show()
    display({"text/plain": f"Figure: {alt}",
             "text/html": f'<p class="labkit-alt" role="note"><em>Figure:</em> {html.escape(alt)}</p>'}, raw=True)


def _static_error(exc: Exception | None) -> RuntimeError:
    why = "the kaleido package is not installed" if exc is None else f"plotly's static export failed ({exc})"
    return RuntimeError(f"saving PNG/SVG/PDF needs plotly's static export: {why}. Install it with "
                        f"`pip install kaleido` (it also needs a Chrome or Chromium on this machine), or save "
                        f"as .html, which needs nothing and keeps the figure interactive.")


def save(fig: go.Figure, path, *, alt: str | None = None, width: int | None = None, height: int | None = None,
         scale: float = 2.0) -> Path:
    """Write ``fig`` to ``path``; the format follows the suffix: .html (self-contained, plotly.js
    embedded, no CDN), or .png / .svg / .pdf / .jpeg / .webp (plotly's static export through kaleido,
    ``scale`` × the figure's size in pixels, 2 for sharp slides). ``alt``: a one-line description
    (default :func:`alt_text`), stored in the file (HTML, SVG) and beside it as ``<path>.alt.txt``
    for the static formats. Returns the path written."""
    if not isinstance(fig, go.Figure):
        raise ValueError(f"save needs a plotly go.Figure, got {type(fig).__name__}")
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SAVE_FORMATS:
        raise ValueError(f"cannot save a figure as {path.name!r}: the suffix must be one of {', '.join(SAVE_FORMATS)}")
    alt = " ".join(str(alt).split()) if alt is not None else alt_text(fig)
    if not alt:
        raise ValueError("alt must be a non-empty one-line description of the figure (or None for the default)")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".html":
        path.write_text(_html(fig, alt, width, height), encoding="utf-8")
        return path
    if importlib.util.find_spec("kaleido") is None:
        raise _static_error(None)
    try:
        data = pio.to_image(fig, format=suffix.lstrip(".").replace("jpg", "jpeg"), width=width, height=height,
                            scale=scale)
    except Exception as exc:  # noqa: BLE001 - kaleido's errors (no Chrome, ...) say little on their own
        raise _static_error(exc) from exc
    if suffix == ".svg":
        data = _svg_with_title(data.decode("utf-8"), alt).encode("utf-8")
    path.write_bytes(data)
    path.with_name(path.name + ".alt.txt").write_text(alt + "\n", encoding="utf-8")
    return path


def _html(fig: go.Figure, alt: str, width, height) -> str:
    page = pio.to_html(fig, include_plotlyjs=True, full_html=True, default_width=width or "100%",
                       default_height=height or "100%")
    label = html.escape(alt, quote=True)
    page = page.replace("<head>", f"<head>\n    <title>{label}</title>", 1)
    page = re.sub(r'<div id="[^"]*" class="plotly-graph-div"',
                  lambda m: m.group(0) + f' role="img" aria-label="{label}" title="{label}"', page, count=1)
    return page.replace("<html>", '<html lang="en">', 1)


def _svg_with_title(svg: str, alt: str) -> str:
    label = html.escape(alt, quote=True)
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)
    return re.sub(r"<svg\b[^>]*>", lambda m: m.group(0) + f"<title>{label}</title>", svg, count=1)
