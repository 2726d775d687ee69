"""The controls every interactive panel is built from, and the wiring that redraws a figure in place.

``interactive_figure(figure_fn, {"name": control, ...})`` shows the controls above a plotly
``FigureWidget`` and, when a control changes, calls ``figure_fn(**values)`` and updates the
FigureWidget in place (no flicker, no new output). Sliders are set to ``continuous_update=False``
so a redraw happens when the mouse is released. Used by :mod:`labkit.widgets` (the story panels)
and :mod:`labkit.explorer` (the embedding explorer); imports neither.
"""
from __future__ import annotations

from typing import Callable, Mapping

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go

from . import _validation as check

__all__ = ["plain", "figure_widget", "update_figure", "interactive_figure", "InteractiveFigure", "slider",
           "int_slider", "dropdown"]


def plain(value):
    """``value`` with every numpy array (at any depth of dicts, lists and tuples) turned into a list.

    A FigureWidget must hold plain lists, not numpy arrays: plotly >= 6 ships an array to the
    browser as a typed array, plotly.js keeps its own copy of some of them (a heatmap's x and y),
    and the browser then reports that copy back as an object keyed by index ("trace deltas");
    plotly's ``_remove_overlapping_props`` tests the array it holds with ``if not value`` and
    raises "the truth value of an array ... is ambiguous" in the log console. Lists travel as JSON
    arrays, which the browser keeps as they are."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if not any(isinstance(v, _NESTED) for v in value):  # a flat list of plain values: as it is
            return value
        return type(value)(plain(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


_NESTED = (np.ndarray, np.generic, dict, list, tuple)


def figure_widget(fig: go.Figure) -> go.FigureWidget:
    """A FigureWidget showing ``fig``, its trace properties held as plain lists (see :func:`plain`)."""
    return go.FigureWidget({"data": [plain(t.to_plotly_json()) for t in fig.data], "layout": fig.layout})


def update_figure(widget: go.FigureWidget, fig: go.Figure) -> None:
    """Make ``widget`` show ``fig``, updating traces in place when their number and types match.

    Arrays are assigned as lists (see :func:`plain`)."""
    with widget.batch_update():
        same = len(widget.data) == len(fig.data) and all(
            a.type == b.type for a, b in zip(widget.data, fig.data))
        if same:
            for old, new in zip(widget.data, fig.data):
                spec = plain(new.to_plotly_json())
                spec.pop("type", None)
                old.update(spec, overwrite=True)
        else:
            widget.data = ()
            widget.add_traces([plain(t.to_plotly_json()) for t in fig.data])
        widget.layout = fig.layout


def slider(value: float, min: float, max: float, step: float, description: str = "", **kw) -> W.FloatSlider:
    """A float slider that redraws on release, with a readable label width.

    A ``value`` outside [min, max] raises ValueError (ipywidgets would silently clip it)."""
    value = check.number(value, description or "value", low=min, high=max, note="the slider's range")
    return W.FloatSlider(value=value, min=min, max=max, step=step, description=description,
                         continuous_update=False, style={"description_width": "initial"}, **kw)


def int_slider(value: int, min: int, max: int, step: int = 1, description: str = "", **kw) -> W.IntSlider:
    """An integer slider that redraws on release; a ``value`` outside [min, max] raises ValueError."""
    value = check.integer(value, description or "value", low=min, high=max, note="the slider's range")
    return W.IntSlider(value=value, min=min, max=max, step=step, description=description,
                       continuous_update=False, style={"description_width": "initial"}, **kw)


def dropdown(options, value=None, description: str = "", **kw) -> W.Dropdown:
    """A dropdown with a readable label width; a ``value`` that is not an option raises ValueError
    naming the options (ipywidgets would raise a TraitError)."""
    options = list(options)
    if not options:
        raise ValueError(f"{description or 'a dropdown'} needs at least one option")
    if value is not None:
        check.one_of(value, description or "value", [o[1] if isinstance(o, tuple) else o for o in options])
    return W.Dropdown(options=options, value=value if value is not None else _first(options),
                      description=description, style={"description_width": "initial"}, **kw)


def _first(options):
    first = options[0]
    return first[1] if isinstance(first, tuple) else first


class InteractiveFigure(W.VBox):
    """Controls, a status line and a FigureWidget redrawn by ``figure_fn(**values, **fixed)``.

    ``.figure`` is the FigureWidget, ``.controls`` the dict of controls, ``.values()`` the current
    settings and ``.redraw()`` forces an update. A ValueError from ``figure_fn`` (a setting that is
    not allowed) is shown in the status line; any other error is raised.
    """

    def __init__(self, figure_fn: Callable[..., go.Figure], controls: Mapping[str, W.Widget], *,
                 fixed: Mapping | None = None, columns: int = 3):
        self.figure_fn, self.controls, self.fixed = figure_fn, dict(controls), dict(fixed or {})
        self.status = W.HTML("")
        self.figure = figure_widget(figure_fn(**self.values(), **self.fixed))
        for control in self.controls.values():
            if hasattr(control, "continuous_update"):
                control.continuous_update = False
            control.observe(self.redraw, names="value")
        boxes = list(self.controls.values())
        rows = [W.HBox(boxes[i:i + columns]) for i in range(0, len(boxes), columns)]
        super().__init__(rows + [self.status, self.figure])

    def values(self) -> dict:
        return {name: control.value for name, control in self.controls.items()}

    def redraw(self, change=None) -> None:
        try:
            fig = self.figure_fn(**self.values(), **self.fixed)
        except ValueError as exc:
            self.status.value = f"<span style='color:#b00'>Not allowed: {exc}</span>"
            return
        self.status.value = ""
        update_figure(self.figure, fig)


def interactive_figure(figure_fn: Callable[..., go.Figure], controls: Mapping[str, W.Widget], *,
                       fixed: Mapping | None = None, columns: int = 3) -> InteractiveFigure:
    """Wire ``controls`` (name -> ipywidget) to a pure figure function; see :class:`InteractiveFigure`."""
    return InteractiveFigure(figure_fn, controls, fixed=fixed, columns=columns)
