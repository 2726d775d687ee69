"""The embedding explorer: a 2-D map of embeddings you can question.

Projection (UMAP / PCA / t-SNE) and its parameters; colour by any column; click a point to see the
example (thumbnail, text, metadata) and its k nearest neighbours in the ORIGINAL feature space,
highlighted on the map, with how many of them the map also puts nearby; box or lasso selection
summarised as a class bar chart and a gallery; a search box; a second embedding of the same
examples side by side with linked hover and selection. The maths lives in pure functions
(:func:`labkit.embed.neighbors_of`, :func:`~labkit.embed.selection_summary`,
:func:`~labkit.embed.search_points`, :func:`labkit.plots.colour_column`); this module only wires
them to ipywidgets and plotly FigureWidgets. Used in notebooks 00, 03 and 05, and by ``labkit explore``.

Every control is reachable with the Tab key (dropdowns, slider, text boxes, the clear button, then
each map's zoom and selection buttons), and "show example #" does by keyboard what a click does.
Each map is drawn to the width of its box and redrawn when the box changes (:mod:`labkit.figure_fit`).
"""
from __future__ import annotations

import html
from typing import Mapping, Sequence

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go

from . import _validation as check
from . import plots
from .controls import dropdown, figure_widget, int_slider, plain, slider
from .figure_fit import map_figure
from .embed import NeighborIndex, neighbors_of, project_2d, search_points, selection_summary

__all__ = ["EmbeddingExplorer"]

_MAIN, _HIGHLIGHT, _FOCUS = 0, 1, 2  # fixed trace order in every view; legend entries follow


def _as_dict(features, default_name: str) -> dict:
    if features is None:
        return {}
    return dict(features) if isinstance(features, Mapping) else {default_name: features}


def _flat(a) -> np.ndarray:
    x = plots.to_numpy(a).astype(np.float32)
    return x.reshape(len(x), -1)


# the projection each setting belongs to (the others are hidden while it is not chosen)
_APPLIES_TO = {"n_neighbors": "umap", "min_dist": "umap", "perplexity": "tsne"}

class EmbeddingExplorer(W.VBox):
    """Interactive map of an embedding; see the module docstring and ``embedding_explorer``."""

    def __init__(self, features, *, labels=None, classes: Sequence[str] | None = None,
                 meta: Mapping | None = None, images=None, texts: Sequence[str] | None = None,
                 projection: str = "umap", compare=None, n_neighbors: int = 15, min_dist: float = 0.1,
                 perplexity: float = 30.0, metric: str = "cosine", k: int = 8, seed: int = 0,
                 max_points: int = 70_000, height: int = 460):
        check.one_of(projection, "projection", ("umap", "pca", "tsne"))
        check.one_of(metric, "metric", ("cosine", "euclidean"), note="the neighbour distance")
        # the ranges of the sliders the values start on (ipywidgets would silently clip them)
        check.integer(n_neighbors, "n_neighbors", low=2, high=100)
        check.number(min_dist, "min_dist", low=0, high=0.99)
        check.number(perplexity, "perplexity", low=2, high=100)
        check.integer(k, "k", low=1, high=30, note="neighbours shown")
        seed = check.seed(seed, allow_none=False)
        check.positive_int(max_points, "max_points")
        height = check.integer(height, "height", low=100, note="pixels")
        self.spaces = {name: _flat(f) for name, f in _as_dict(features, "features").items()}
        self.compare_spaces = {name: _flat(f) for name, f in _as_dict(compare, "compare").items()}
        if not self.spaces:
            raise ValueError("features must be an (N, D) array or a non-empty dict of them")
        sizes = {name: len(f) for name, f in {**self.spaces, **self.compare_spaces}.items()}
        self.n = next(iter(sizes.values()))
        if len(set(sizes.values())) != 1:
            raise ValueError(f"every embedding must hold the same examples; got sizes {sizes}")
        if self.n > max_points:
            raise ValueError(f"{self.n} points is more than max_points={max_points}; pass a subset")
        self.columns = self._columns(labels, classes, meta)
        self.images = None if images is None else plots.to_numpy(images)
        self.texts = None if texts is None else [str(t) for t in texts]
        for name, value in (("images", self.images), ("texts", self.texts)):
            if value is not None and len(value) != self.n:
                raise ValueError(f"{name} has {len(value)} entries for {self.n} examples")
        self.seed, self.height = seed, height
        self.hover = self._hover_texts()
        self._build_controls(projection, n_neighbors, min_dist, perplexity, metric, k)
        self.views = [self._new_view()] + ([self._new_view()] if self.compare_spaces else [])
        self.xy = [None] * len(self.views)
        self.focus, self.highlighted, self.selected = None, np.zeros(0, int), np.zeros(0, int)
        self._build_panel()
        self._reproject()
        self._recolour()
        # Each map takes an equal share of the width (never less than 320 px); the side panel sits
        # to the right when there is room and wraps below the maps when there is not.
        # A map's box is a block, not a flex row: the figure's element then takes the box's width
        # (as a flex item it would keep the width it was first drawn at) and redraws to fit it.
        maps = W.HBox([W.Box([v], layout=W.Layout(flex="1 1 0%", min_width="320px", overflow="hidden",
                                                  display="block"))
                       for v in self.views],
                      layout=W.Layout(flex=f"1 1 {560 * len(self.views)}px", min_width="0"))
        body = W.HBox([maps, self.panel], layout=W.Layout(flex_flow="row wrap", width="100%"))
        super().__init__([self.controls_box, body])

    # ----------------------------------------------------------------- data
    def _columns(self, labels, classes, meta) -> dict:
        columns = {}
        if labels is not None:
            lab = check.labels(plots.to_numpy(labels).reshape(-1), "labels",
                               len(classes) if classes is not None else None).numpy()
            names = list(classes) if classes is not None else [str(c) for c in range(int(lab.max()) + 1)]
            columns["class"] = np.asarray([names[i] for i in lab], dtype=object)
        for key, col in (meta or {}).items():
            columns[str(key)] = plots.to_numpy(col).reshape(-1)
        for key, col in columns.items():
            if len(col) != self.n:
                raise ValueError(f"column {key!r} has {len(col)} values for {self.n} examples")
        return columns

    def _hover_texts(self) -> list[str]:
        parts = [[f"#{i}"] for i in range(self.n)]
        for key, col in list(self.columns.items())[:4]:
            for i in range(self.n):
                v = col[i]
                parts[i].append(f"{key}: {v:.3g}" if isinstance(v, (float, np.floating)) else f"{key}: {v}")
        if self.texts is not None:
            for i, t in enumerate(self.texts):
                parts[i].append(html.escape(t[:90] + ("…" if len(t) > 90 else "")))
        return ["<br>".join(p) for p in parts]

    # ----------------------------------------------------------------- widgets
    def _build_controls(self, projection, n_neighbors, min_dist, perplexity, metric, k):
        c = {}
        if len(self.spaces) > 1:
            c["space"] = dropdown(list(self.spaces), description="embedding")
        c["projection"] = dropdown(["umap", "pca", "tsne"], value=projection, description="projection")
        c["n_neighbors"] = int_slider(n_neighbors, 2, 100, description="UMAP n_neighbors")
        c["min_dist"] = slider(min_dist, 0.0, 0.99, 0.01, description="UMAP min_dist")
        c["perplexity"] = slider(perplexity, 2.0, 100.0, 1.0, description="t-SNE perplexity")
        c["color_by"] = dropdown(list(self.columns) or ["none"], description="colour by")
        c["metric"] = dropdown(["cosine", "euclidean"], value=metric, description="neighbour distance")
        c["k"] = int_slider(k, 1, 30, description="neighbours k")
        c["search"] = W.Text(placeholder="class name or text", description="search",
                             continuous_update=False, style={"description_width": "initial"})
        # the keyboard's way to "click" a point: type its index, press Enter
        c["example"] = W.Text(placeholder=f"0–{self.n - 1}, Enter", description="show example #",
                              continuous_update=False, style={"description_width": "initial"},
                              layout=W.Layout(width="220px"))
        self.controls = c
        for name in ("space", "projection", "n_neighbors", "min_dist", "perplexity"):
            if name in c:
                c[name].observe(lambda change: self._reproject(), names="value")
        c["color_by"].observe(lambda change: self._recolour(), names="value")
        c["metric"].observe(lambda change: self._refresh_focus(), names="value")
        c["k"].observe(lambda change: self._refresh_focus(), names="value")
        c["search"].observe(lambda change: self.search(change["new"]), names="value")
        c["example"].observe(lambda change: self._typed_example(change["new"]), names="value")
        clear = W.Button(description="clear", tooltip="forget the clicked point, search and selection")
        clear.on_click(lambda button: self.clear())
        items = list(c.values()) + [clear]
        self.controls_box = W.HBox(items, layout=W.Layout(flex_flow="row wrap"))
        c["projection"].observe(lambda change: self._show_applicable(), names="value")
        self._show_applicable()

    def _show_applicable(self):
        """Show only the settings of the chosen projection (UMAP's n_neighbors and min_dist,
        t-SNE's perplexity; PCA has none)."""
        method = self.controls["projection"].value
        for name, only in _APPLIES_TO.items():
            self.controls[name].layout.display = None if method == only else "none"

    def _new_view(self) -> go.FigureWidget:
        fig = map_figure()
        fig.add_scattergl(x=[], y=[], mode="markers", hovertext=np.asarray(self.hover, dtype=object), hoverinfo="text", name="points",
                          showlegend=False, marker=dict(size=5), unselected=dict(marker=dict(opacity=0.25)))
        fig.add_scattergl(x=[], y=[], mode="markers", name="neighbours / matches", hoverinfo="skip",
                          marker=dict(size=11, color="rgba(0,0,0,0)", line=dict(color="black", width=2)))
        fig.add_scattergl(x=[], y=[], mode="markers", name="clicked", hoverinfo="skip",
                          marker=dict(size=16, symbol="star", color="gold", line=dict(color="black", width=1)))
        fig.update_layout(template="plotly_white", height=self.height, width=None, dragmode="lasso",
                          margin=dict(l=10, r=10, t=40, b=10), legend=dict(itemsizing="constant"))
        fig.update_xaxes(showticklabels=False)
        fig.update_yaxes(showticklabels=False)
        view = len(getattr(self, "views", []))
        main = fig.data[_MAIN]
        main.on_click(lambda trace, points, state, v=view: self._clicked(points, v))
        main.on_selection(lambda trace, points, state: self.select(points.point_inds))
        main.on_hover(lambda trace, points, state, v=view: self._hovered(points, v))
        return fig

    def _build_panel(self):
        self.detail = W.HTML("<i>Click a point to see it and its nearest neighbours.</i>")
        self.neighbours = W.HTML("")
        self.selection_info = W.HTML("<i>Box or lasso select points to summarise them.</i>")
        self.selection_bars = figure_widget(plots.class_bars({}, title="classes in the selection", height=200))
        self.gallery = W.HTML("")
        self.panel = W.VBox([self.detail, self.neighbours, self.selection_info, self.selection_bars, self.gallery],
                            layout=W.Layout(flex="0 1 340px", min_width="300px", overflow="auto",
                                            max_height=f"{self.height + 200}px"))

    # ----------------------------------------------------------------- state -> figures
    def space(self, view: int = 0) -> tuple[str, np.ndarray]:
        """The (name, features) shown in ``view`` (0: left, 1: the compare view)."""
        if view == 0:
            name = self.controls["space"].value if "space" in self.controls else next(iter(self.spaces))
            return name, self.spaces[name]
        name = next(iter(self.compare_spaces))
        return name, self.compare_spaces[name]

    def _reproject(self):
        c = self.controls
        for v, fig in enumerate(self.views):
            name, feats = self.space(v)
            self.xy[v] = project_2d(feats, c["projection"].value, n_neighbors=c["n_neighbors"].value,
                                    min_dist=c["min_dist"].value, perplexity=c["perplexity"].value, seed=self.seed)
            with fig.batch_update():
                # numpy, like the colours: sent as binary arrays and not validated point by point (at
                # 70,000 points lists cost seconds); plotly.js draws a scatter's typed arrays as they are
                fig.data[_MAIN].x, fig.data[_MAIN].y = (np.ascontiguousarray(self.xy[v][:, j]) for j in (0, 1))
                fig.layout.title = f"{name} · {c['projection'].value.upper()} · {self.n} points"
        self._draw_marks()

    def _recolour(self):
        column = self.columns.get(self.controls["color_by"].value)
        for fig in self.views:
            with fig.batch_update():
                fig.data = fig.data[:3]
                main = fig.data[_MAIN]
                if column is None:
                    main.marker.update(color=plots.PALETTE[0], showscale=False)
                    continue
                codes, info = plots.colour_column(column)
                # Colours are numbers in numpy arrays: plotly checks a numeric array at once, but each
                # colour NAME one by one (at 70,000 points 2-4 s, at every colour-by change). A class is
                # its palette index + 0.5 on a stepwise colour scale: exactly the palette's colour.
                if codes is None:
                    main.marker.update(color=info, colorscale="Viridis", showscale=True, cmin=None, cmax=None,
                                       colorbar=dict(title=self.controls["color_by"].value, len=0.8))
                else:
                    p = len(plots.PALETTE)
                    steps = [[edge / p, plots.PALETTE[i]] for i in range(p) for edge in (i, i + 1)]
                    main.marker.update(color=(codes % p) + 0.5, colorscale=steps, cmin=0, cmax=p, showscale=False)
                    fig.add_traces([go.Scattergl(x=[None], y=[None], mode="markers", name=name,
                                                 marker=dict(size=8, color=plots.PALETTE[i % len(plots.PALETTE)]))
                                    for i, name in enumerate(info[:30])])

    def _draw_marks(self):
        for v, fig in enumerate(self.views):
            xy = self.xy[v]
            with fig.batch_update():
                h = self.highlighted
                fig.data[_HIGHLIGHT].x, fig.data[_HIGHLIGHT].y = plain(xy[h, 0]), plain(xy[h, 1])
                f = [] if self.focus is None else [self.focus]
                fig.data[_FOCUS].x, fig.data[_FOCUS].y = plain(xy[f, 0]), plain(xy[f, 1])
                fig.data[_MAIN].selectedpoints = self.selected.tolist() if len(self.selected) else None

    # ----------------------------------------------------------------- interactions (public for tests)
    def click(self, index: int, view: int = 0) -> np.ndarray:
        """Show example ``index`` and its k nearest neighbours in ``view``'s ORIGINAL feature space."""
        index = check.integer(index, "index", low=0, high=self.n - 1)
        view = check.integer(view, "view", low=0, high=len(self.views) - 1)
        self.focus, self._focus_view = index, view
        return self._refresh_focus()

    def _refresh_focus(self) -> np.ndarray:
        if self.focus is None:
            return np.zeros(0, int)
        view, i = getattr(self, "_focus_view", 0), self.focus
        name, feats = self.space(view)
        k = min(self.controls["k"].value, self.n - 1)
        idx, dist = self._nearest(view, i, k, self.controls["metric"].value)
        map_idx, _ = neighbors_of(self.xy[view], i, k=k, metric="euclidean")
        kept = len(set(idx.tolist()) & set(map_idx.tolist()))
        self.highlighted = idx
        self.detail.value = self._describe(i)
        rows = "".join(self._neighbour_row(j, d) for j, d in zip(idx, dist))
        self.neighbours.value = (
            f"<b>{k} nearest in “{html.escape(name)}” ({self.controls['metric'].value}, original "
            f"{feats.shape[1]}-d space)</b><br><small>{kept} of them are also among the {k} nearest on the "
            f"2-D map; the map keeps neighbourhoods only roughly.</small><div>{rows}</div>")
        self._draw_marks()
        return idx

    def _nearest(self, view: int, i: int, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """:func:`labkit.embed.neighbors_of` in ``view``'s space, through a :class:`~labkit.embed.NeighborIndex`
        built once per space and metric: a click at 70,000 × 512 then costs one matrix-vector product
        (benchmarks/explorer.py)."""
        name, feats = self.space(view)
        key = (view, name, metric)
        cache = self.__dict__.setdefault("_knn_cache", {})
        if key not in cache:
            cache[key] = NeighborIndex(feats, metric)
        return cache[key].query(i, k)

    def _describe(self, i: int) -> str:
        parts = [f"<b>example #{i}</b>"]
        if self.images is not None:
            parts.append(plots.thumbnail_html(self._image(i), size=96))
        meta = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(self._fmt(col[i]))}</td></tr>"
                       for k, col in self.columns.items())
        if meta:
            parts.append(f"<table style='font-size:12px'>{meta}</table>")
        if self.texts is not None:
            parts.append(f"<div style='font-size:12px;max-width:320px'>{html.escape(self.texts[i])}</div>")
        return "".join(parts)

    def _neighbour_row(self, j: int, d: float) -> str:
        label = f"#{j} d={d:.3f}"
        if "class" in self.columns:
            label += f" {self.columns['class'][j]}"
        if self.images is not None:
            return plots.thumbnail_html(self._image(j), caption=label, size=48)
        text = f": {html.escape(self.texts[j][:60])}" if self.texts is not None else ""
        return f"<div style='font-size:11px'>{html.escape(label)}{text}</div>"

    def _image(self, i: int) -> np.ndarray:
        """Image ``i`` in [0, 1] (images may be given as uint8, 0-255, to save memory)."""
        image = self.images[i]
        return image / 255.0 if image.dtype == np.uint8 else image

    @staticmethod
    def _fmt(v) -> str:
        return f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v)

    def _typed_example(self, text: str) -> None:
        """The "show example #" box: the example with that index, as a click would show it."""
        text = (text or "").strip().lstrip("#")
        if not text:
            return
        if not text.isdigit() or int(text) >= self.n:
            self.detail.value = (f"<span style='color:#b00'>“{html.escape(text)}” is not an example index: "
                                 f"type a whole number from 0 to {self.n - 1}</span>")
            return
        self.click(int(text))

    def _clicked(self, points, view: int):
        if points.point_inds:
            self.click(points.point_inds[0], view)

    def _hovered(self, points, view: int):
        """Linked hover: show the hovered example as the star in the other view."""
        if len(self.views) < 2 or not points.point_inds:
            return
        i = points.point_inds[0]
        other = self.views[1 - view]
        with other.batch_update():
            x, y = self.xy[1 - view][i]
            other.data[_FOCUS].x, other.data[_FOCUS].y = [float(x)], [float(y)]

    def select(self, indices) -> dict:
        """Summarise a selection (size, class counts, a gallery) and select it in every view."""
        self.selected = np.unique(np.asarray(indices, dtype=int).reshape(-1))
        labels_col = self.columns.get("class")
        if labels_col is not None:
            codes, names = plots.colour_column(labels_col)
            summary = selection_summary(self.selected, codes, names, seed=self.seed)
        else:
            summary = selection_summary(self.selected, seed=self.seed)
        self.selection_info.value = f"<b>selection: {summary['size']} points</b>"
        bar = plots.class_bars(summary["counts"]).data[0]
        with self.selection_bars.batch_update():
            self.selection_bars.data[0].x, self.selection_bars.data[0].y = plain(bar.x), plain(bar.y)
            self.selection_bars.data[0].text = plain(bar.text)
        self.gallery.value = "".join(
            plots.thumbnail_html(self._image(j), caption=f"#{j}", size=40) if self.images is not None
            else f"<div style='font-size:11px'>#{j} {html.escape((self.texts or [''] * self.n)[j][:60])}</div>"
            for j in summary["sample"])
        self._draw_marks()
        return summary

    def search(self, query: str) -> np.ndarray:
        """Highlight the points whose class (or any text column, or report text) contains ``query``."""
        searchable = [col for col in self.columns.values() if np.asarray(col).dtype.kind in "OUSb"]
        if self.texts is not None:
            searchable.append(self.texts)
        hits = search_points(query, *searchable) if searchable else np.zeros(0, int)
        self.focus = None
        self.highlighted = hits
        self.detail.value = (f"<b>{len(hits)} points match “{html.escape(query)}”</b>" if query
                             else "<i>Click a point to see it and its nearest neighbours.</i>")
        self.neighbours.value = ""
        self._draw_marks()
        return hits

    def clear(self) -> None:
        """Forget the clicked point, the search and the selection."""
        self.controls["search"].value = ""
        self.controls["example"].value = ""
        self.select([])
        self.focus, self.highlighted = None, np.zeros(0, int)
        self.neighbours.value = ""
        self._draw_marks()
