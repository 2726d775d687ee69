"""Sphinx configuration of the labkit course site.

Build it with ``bash docs/build.sh build/site`` (see that script): it lays the sources out under
``build/site.work/src`` exactly as in the repository (``index.md``, ``docs/``, ``notebooks/`` with
the executed notebooks, ``results/``, ``data/``) and runs Sphinx on that folder with this file
(``-c docs``), so every relative link of the README, the docs and the notebooks resolves as it does
on the repository. Nothing is fetched while building: the theme, plotly.js and MathJax come from
installed Python packages (``pip install -e ".[docs]"``).
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))

import labkit  # noqa: E402

project = "labkit"
author = "labkit developers"
copyright = "labkit developers, MIT licence"
release = version = labkit.__version__
language = "en"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "labkit_site",
]

root_doc = "index"
# the staged README is only included by index.md; solutions' folder index is staged as notebooks/solutions/index.md
exclude_patterns = ["README.md", "_build", "**.ipynb_checkpoints", "jupyter_execute"]
templates_path = [str(HERE / "_templates")]
html_static_path = [str(HERE / "_static")]
# Not nitpicky: the docstrings name torch, numpy and plotly types, whose inventories would have to be
# fetched (intersphinx); every link the pages themselves make is checked (-W, check_links.py).
suppress_warnings = []

# ---------------------------------------------------------------- MyST and MyST-NB
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "html_image"]
myst_heading_anchors = 4  # GitHub-style anchors, as the docs' links (reference.md#21-...) expect
myst_dmath_double_inline = True
nb_execution_mode = "off"  # docs/_ext/execute_notebooks.py ran them (quick mode, two at a time)
nb_ipywidgets_js = {}  # no widget manager from a CDN: widget outputs were replaced by static notes
nb_merge_streams = True
nb_output_stderr = "show"
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]

# ---------------------------------------------------------------- API reference
autosummary_generate = True
autosummary_ignore_module_all = False
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_mock_imports = []

# ---------------------------------------------------------------- HTML
html_theme = "sphinx_book_theme"
html_title = "labkit course"
html_short_title = "labkit"
html_logo = str(HERE / "_static" / "labkit-logo.svg")
html_favicon = str(HERE / "_static" / "labkit-logo.svg")
html_css_files = ["labkit-site.css"]
html_js_files = ["labkit-site.js"]  # plotly.js and MathJax are added by labkit_site (bundled copies)
html_last_updated_fmt = None
html_show_sourcelink = False
html_copy_source = True  # the download button offers each page's source (a notebook with its outputs)
html_context = {"default_mode": "light"}  # plotly's white figures; readers can switch to dark
html_theme_options = {
    "repository_url": "https://github.com/labkit/labkit",
    "repository_branch": "main",
    "path_to_docs": "",  # the staged sources mirror the repository's layout
    "use_repository_button": True,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "launch_buttons": {
        "binderhub_url": "https://mybinder.org",
        "colab_url": "https://colab.research.google.com",
        "notebook_interface": "jupyterlab",
    },
    "logo": {"text": "labkit"},
    "article_header_start": ["toggle-primary-sidebar.html"],
}
# MathJax 3 from the installed django-static-mathjax package (copied by labkit_site), SVG output:
# one self-contained file, no web fonts to fetch.
mathjax_path = "vendor/mathjax/tex-svg-full.js"
mathjax3_config = {"loader": {"load": []}, "options": {"enableMenu": False}}

# ---------------------------------------------------------------- labkit_site (docs/_ext/labkit_site.py)
labkit_repository = "labkit/labkit"
