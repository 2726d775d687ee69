"""What the explorer app's kernel runs: the page of ``labkit explore`` (a heading and the explorer).

:func:`show` reads the checked copy of the user's inputs that :mod:`labkit.app.command` wrote (a
saved-embeddings folder, :mod:`labkit.app.folder`) and displays an
:class:`~labkit.explorer.EmbeddingExplorer` on it with the command's projection settings, so the
projection the command computed comes from the cache.
"""
from __future__ import annotations

import html

import ipywidgets as W

from ..explorer import EmbeddingExplorer
from ..figure_fit import FIT_JS, MapFigure
from .command import PLOTLY_BUNDLE, SETTINGS, wait_for_projection
from .load import read_folder

__all__ = ["build", "show", "sync_figures", "PLOTLY_SHIM"]


#: What each plotly FigureWidget of the page loads as its JavaScript: the bundle the command serves
#: beside the notebook, imported once by URL and shared, instead of the 5 MB source sent inside every
#: figure's state (with three figures that took longer than anywidget's 2-second start-up limit on a
#: busy machine, and a figure that misses it is never drawn).
_IMPORT = "const m = await import(new URL('voila/files/" + PLOTLY_BUNDLE + "', document.baseURI).href);\n"
PLOTLY_SHIM = _IMPORT + "export default m.default;\n"
MAP_SHIM = _IMPORT + FIT_JS + "export default () => labkitFit(m.default());\n"  # the maps follow their box's width


def build(folder, projection: str = "umap", title: str = "") -> W.VBox:
    """The app's widget: a heading naming ``title`` and the sizes, then the explorer."""
    import plotly.graph_objects as go

    go.FigureWidget._esm = PLOTLY_SHIM  # this kernel serves only the app (see PLOTLY_SHIM)
    MapFigure._esm = MAP_SHIM
    wait_for_projection(folder)
    bundle = read_folder(folder)
    explorer = EmbeddingExplorer(**bundle.explorer_kwargs(), projection=projection, **SETTINGS)
    dims = ", ".join(f"{html.escape(name)} {x.shape[1]}-d" for name, x in {**bundle.features, **bundle.compare}.items())
    heading = W.HTML(f"<h2 style='margin:4px 0'>labkit explore · {html.escape(title)}</h2>"
                     f"<p style='margin:0 0 6px'>{bundle.n:,} examples · {dims}. Click a point for its nearest "
                     f"neighbours in the original space; box or lasso select to summarise; hover a map to find "
                     f"the point in the other.</p>")
    page = W.VBox([heading, explorer], layout=W.Layout(width="100%"))
    page.explorer = explorer
    return page


def sync_figures(widget) -> int:
    """Copy every plotly FigureWidget's current traces and layout into the state its page reads first.

    A FigureWidget sends later changes (traces added, restyles) as messages to a page that is already
    showing it, and copies its whole figure into that state only when it is displayed itself
    (``_repr_mimebundle_``), not as the child of a box. Voila runs the code before any page is
    connected, so without this the page would draw the empty figures the explorer started from.
    Returns the number of figures synced."""
    from copy import deepcopy

    import plotly.graph_objects as go

    if isinstance(widget, go.FigureWidget):
        widget._widget_layout = deepcopy(widget._layout_obj._props)
        widget._widget_data = deepcopy(widget._data)
        return 1
    return sum(sync_figures(child) for child in getattr(widget, "children", ()))


def show(folder, projection: str = "umap", title: str = "") -> W.VBox:
    """Display :func:`build`'s page (the notebook that Voila serves calls this)."""
    from IPython.display import display

    page = build(folder, projection, title)
    sync_figures(page)
    display(page)
    return page
