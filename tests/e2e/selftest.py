"""A small notebook the browser harness runs on itself, so that each of its checks is seen to fail.

It shows a working panel (a slider that redraws a FigureWidget), a panel whose slider callback
raises, a static figure, and a widget view whose model does not exist. The harness must: render
and count the first three, see the first panel's figure change, see the second panel's figure stay
unchanged and find the callback's traceback in the log console, and report the missing widget.
"""
from __future__ import annotations

import nbformat

SELFTEST = "zz_e2e_selftest.ipynb"

_WORKING = '''import ipywidgets as W
import plotly.graph_objects as go

fig = go.FigureWidget(go.Scatter(x=[0, 1, 2, 3], y=[0, 1, 4, 9]))
power = W.IntSlider(2, 1, 10, description="power", continuous_update=False)
power.observe(lambda change: fig.data[0].update(y=[x ** change["new"] for x in range(4)]), names="value")
W.VBox([W.HBox([power, W.Dropdown(options=["a", "b"], description="unused")]), fig])'''

_BROKEN = '''def explode(change):
    raise RuntimeError("callback exploded on purpose")

broken = W.IntSlider(5, 0, 10, description="broken", continuous_update=False)
broken.observe(explode, names="value")
W.VBox([broken, go.FigureWidget(go.Bar(y=[3, 1, 2]))])'''

_STATIC = '''go.Figure(go.Scatter(y=[1, 3, 2])).show()'''

_MISSING = '''from IPython.display import display
display({"application/vnd.jupyter.widget-view+json": {"model_id": "0" * 32, "version_major": 2, "version_minor": 0},
         "text/plain": "a widget whose model does not exist"}, raw=True)'''


def selftest_notebook() -> dict:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# e2e harness self-test")] + [
        nbformat.v4.new_code_cell(src) for src in (_WORKING, _BROKEN, _STATIC, _MISSING)]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"selftest-{i}"
    return nb
