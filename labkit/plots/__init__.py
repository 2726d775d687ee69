"""Pure plotly figure functions: the former labkit/plots.py, moved unchanged to labkit/plots/core.py
(the next commit splits it into one module per story). Every name stays ``labkit.plots.<name>``."""
from .core import *  # noqa: F401,F403
from .core import __all__  # noqa: F401
