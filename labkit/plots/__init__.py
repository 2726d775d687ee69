"""Pure plotly figure functions: data in, ``go.Figure`` out; no widgets, no display.

One module per story: :mod:`~labkit.plots.core` (generic figures, the colour-blind-safe palette and
marker shapes, renderer), :mod:`~labkit.plots.export` (``save`` to HTML/PNG/SVG with an alt text),
:mod:`~labkit.plots.cll` (notebook 01), :mod:`~labkit.plots.mixup` (02/03),
:mod:`~labkit.plots.imbalance` (04), :mod:`~labkit.plots.clip` (05). Every figure is re-exported
here, so ``labkit.plots.embedding_scatter`` and the like work whichever module holds them.
Widgets (:mod:`labkit.widgets`) call these to redraw; notebooks call them for the static figure of
the default setting. Importing this package sets the plotly renderer once, so figures show in
JupyterLab, in nbviewer and in exported HTML (override with the ``PLOTLY_RENDERER`` environment
variable).
"""
from __future__ import annotations

from . import clip, cll, core, export, imbalance, mixup
from .clip import *  # noqa: F401,F403
from .cll import *  # noqa: F401,F403
from .core import *  # noqa: F401,F403
from .core import _set_default_renderer
from .export import *  # noqa: F401,F403
from .imbalance import *  # noqa: F401,F403
from .mixup import *  # noqa: F401,F403

__all__ = core.__all__ + export.__all__ + cll.__all__ + mixup.__all__ + imbalance.__all__ + clip.__all__

_set_default_renderer()
