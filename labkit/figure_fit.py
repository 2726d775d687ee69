"""A plotly FigureWidget that follows the width of its box: the explorer's maps (:mod:`labkit.explorer`).

plotly's FigureWidget is an anywidget that draws once, at the size its element has at that moment
(often before the page has laid it out, so plotly's default 700 px), and never hears of a resize
inside a widget box. :class:`MapFigure` runs plotly's own widget code wrapped by :data:`FIT_JS`,
which redraws the figure whenever its element's width changes. No labkit import here.
"""
from __future__ import annotations

import plotly.graph_objects as go

__all__ = ["FIT_JS", "MapFigure", "map_figure"]

#: Wraps plotly's widget (an anywidget factory) so that each drawn figure follows its element's width.
#: plotly's FigureWidget draws once at the size its element has then (often before the page has laid it
#: out: 700 px) and, as an anywidget, never hears of a resize, so a map could be wider than its box and
#: lose the legend's edge. With plotly's ``responsive`` config each figure has a resize handler; a
#: ResizeObserver calls it whenever the element's width changes.
FIT_JS = """
function labkitFit(widget) {
  return {
    ...widget,
    render(ctx) {
      const cleanup = widget.render(ctx);
      const el = ctx.el;
      let width = 0;
      const observer = new ResizeObserver(() => {
        const w = el.clientWidth;
        if (w > 0 && w !== width && el._responsiveChartHandler) { width = w; el._responsiveChartHandler(); }
      });
      observer.observe(el);
      return () => { observer.disconnect(); if (typeof cleanup === "function") cleanup(); };
    },
  };
}
"""


def _fitting_esm() -> str | None:
    """plotly's widget bundle with its default export wrapped by :data:`FIT_JS` (None if the bundle's
    final ``export{...}`` has no default, e.g. a plotly release that ships it differently)."""
    import re
    from pathlib import Path

    import plotly

    source = (Path(plotly.__file__).parent / "package_data" / "widgetbundle.js").read_text()
    exports = list(re.finditer(r"export\s*\{([^{}]*)\}", source))
    if not exports:
        return None
    last = exports[-1]
    names = [n.strip() for n in last.group(1).split(",")]
    default = [n.split(" as ")[0].strip() for n in names if n.endswith(" as default")]
    if len(default) != 1:
        return None
    rest = ",".join(n for n in names if not n.endswith(" as default"))
    return (source[:last.start()] + f"export{{{rest}}};" + source[last.end():].lstrip(";")
            + FIT_JS + f"\nexport default () => labkitFit({default[0]}());\n")


class MapFigure(go.FigureWidget):
    """The explorer's map: a FigureWidget whose drawing follows its box's width (see :data:`FIT_JS`).
    Its JavaScript is set on first use (``_esm``; plotly's own where it cannot be wrapped)."""


def map_figure() -> MapFigure:
    """A new, empty map figure (plotly's responsive resizing on, no logo link, no share button)."""
    if "_esm" not in MapFigure.__dict__:
        esm = _fitting_esm()
        if esm is not None:
            MapFigure._esm = esm
    fig = MapFigure()
    # responsive: the resize handler FIT_JS calls; no plotly logo link and no "share" button (nothing
    # leaves the page, and fewer stops for the Tab key)
    fig._config = {**fig._config, "responsive": True, "displaylogo": False,
                   "modeBarButtonsToRemove": ["sendDataToCloud"]}
    return fig
