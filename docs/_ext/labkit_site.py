"""Sphinx extension of the labkit course site: offline assets and repository-relative links.

* **Offline assets.** plotly.js (from the installed ``plotly`` package) and MathJax 3 (from the
  installed ``django-static-mathjax`` package, which ships MathJax's release files) are copied into
  ``_static/vendor/``; plotly.js is loaded only by the pages that draw a figure. No page loads
  anything from another host.
* **Links as on the repository.** The sources are staged with the repository's layout, so the
  README's, the docs' and the notebooks' relative links mostly resolve by themselves. The rest are
  rewritten here: a link to ``README.md`` goes to the landing page (which includes the README's
  overview), a link to a folder goes to that folder's ``index`` page when the site has one, and a
  link to a repository file that is not a page of the site (a script, a test, ``LICENSE``) goes to
  that file on the repository's web page. A link that is none of these stays unresolved, and the
  build (``-W``) fails on it.
* **Docstrings as written.** labkit's docstrings are plain text with RST's inline literals
  (````x````): ``|x|`` there means an absolute value or a count, not an RST substitution, and a
  literal may be followed by a superscript (````n````²). Both are escaped before autodoc parses them.
* **Badges.** The Binder and Colab badge images of the README and the notebooks are replaced by
  copies drawn in ``_static`` (the originals are images on other hosts). Any other remote image is a
  build warning, hence an error.
"""
from __future__ import annotations

import posixpath
import re
import shutil
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.util import logging

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
BADGES = {  # remote badge image -> local copy in _static
    "https://mybinder.org/badge_logo.svg": "badge-binder.svg",
    "https://colab.research.google.com/assets/colab-badge.svg": "badge-colab.svg",
}
PLOTLY_CALL = "labkitPlot("


def _vendor_files() -> dict[str, Path]:
    """Files copied into ``_static/vendor/``: name -> installed source."""
    import mathjax
    import plotly

    return {
        "plotly.min.js": Path(plotly.__file__).parent / "package_data" / "plotly.min.js",
        "mathjax/tex-svg-full.js": Path(mathjax.__file__).parent / "static" / "mathjax" / "es5" / "tex-svg-full.js",
    }


def _site_doc(env, path: str) -> str | None:
    """The docname of a staged source at ``path`` (relative to the source folder), if it is a page."""
    for candidate in (path, posixpath.join(path, "index")):
        candidate = candidate.rstrip("/")
        for suffix in ("", ".md", ".ipynb", ".rst"):
            if candidate.endswith(suffix) and suffix:
                name = candidate[: -len(suffix)]
            elif not suffix:
                name = candidate
            else:
                continue
            if name in env.found_docs:
                return name
    return None


def _repository_url(app, path: str, anchor: str | None) -> str:
    kind = "tree" if (ROOT / path).is_dir() else "blob"
    url = f"https://github.com/{app.config.labkit_repository}/{kind}/main/{path}"
    return url + (f"#{anchor}" if anchor else "")


def rewrite_links(app, doctree) -> None:
    """Point README, folder and non-site repository links where a reader can follow them."""
    env = app.env
    here = posixpath.dirname(env.docname)
    for node in list(doctree.findall(addnodes.pending_xref)):
        if node.get("reftype") != "myst":
            continue
        if node.get("refdomain") == "doc":
            if node["reftarget"] in ("README", "../README") or node["reftarget"].endswith("/README") \
                    and node["reftarget"] not in env.found_docs:
                node["reftarget"] = "index"
            continue
        if node.get("refdomain") is not None:
            continue
        target, _, anchor = node["reftarget"].partition("#")
        if not target or "://" in target:
            continue
        path = posixpath.normpath(posixpath.join(here, target))
        if path.startswith(".."):
            continue
        if posixpath.basename(path) == "README.md" and posixpath.dirname(path) in ("", "."):
            docname = "index"
        else:
            docname = _site_doc(env, path)
        if docname is not None:
            node["refdomain"], node["reftarget"] = "doc", docname
            node["reftargetid"] = anchor or None
            continue
        if (ROOT / path).exists():
            ref = nodes.reference("", "", *node.children, refuri=_repository_url(app, path, anchor),
                                  classes=["external"])
            node.replace_self(ref)


def local_badges(app, doctree) -> None:
    """Replace the remote badge images by the site's copies; warn about any other remote image."""
    depth = app.env.docname.count("/")
    for image in list(doctree.findall(nodes.image)):
        uri = image.get("uri", "")
        if "://" not in uri:
            continue
        if uri in BADGES:
            src = "../" * depth + "_static/" + BADGES[uri]
            alt = image.get("alt", "")
            image.replace_self(nodes.raw("", f'<img class="labkit-badge" src="{src}" alt="{alt}"/>', format="html"))
        else:
            logger.warning(f"remote image {uri!r}: the site must work offline (add a local copy)",
                           location=image)


_LITERAL_END = re.compile(r"(``[^`\s](?:[^`]*?[^`\s])?``)(?=[^\s\-.,:;!?\\/'\")\]}>`])")


def _escape_line(line: str) -> str:
    parts = line.split("``")
    # even parts are outside inline literals: a bar there is text, never a substitution
    parts = [p.replace("|", "\\|") if i % 2 == 0 else p for i, p in enumerate(parts)]
    return _LITERAL_END.sub(r"\1\\ ", "``".join(parts))


def plain_docstring(app, what, name, obj, options, lines) -> None:
    """Escape ``|`` outside literals and close a literal followed by a letter (see the module doc)."""
    literal_indent = None
    for i, line in enumerate(lines):
        indent = len(line) - len(line.lstrip())
        if literal_indent is not None:
            if line.strip() and indent <= literal_indent:
                literal_indent = None
            else:
                continue
        lines[i] = _escape_line(line)
        if line.rstrip().endswith("::"):
            literal_indent = indent


def on_doctree_read(app, doctree) -> None:
    rewrite_links(app, doctree)
    local_badges(app, doctree)


def add_plotly(app, pagename, templatename, context, doctree) -> None:
    """Load the bundled plotly.js on the pages that draw a figure (before the page's own scripts)."""
    if doctree is None:
        return
    if any(PLOTLY_CALL in n.astext() for n in doctree.findall(nodes.raw)):
        app.add_js_file("vendor/plotly.min.js", priority=100)


def copy_vendor(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static" / "vendor"
    for name, source in _vendor_files().items():
        target = static / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def check_vendor(app) -> None:
    missing = [str(p) for p in _vendor_files().values() if not p.is_file()]
    if missing:
        raise RuntimeError(f"bundled assets missing (pip install -e '.[docs]'): {missing}")


def setup(app):
    app.add_config_value("labkit_repository", "labkit/labkit", "env")
    app.connect("builder-inited", check_vendor)
    app.connect("doctree-read", on_doctree_read)
    app.connect("autodoc-process-docstring", plain_docstring)
    app.connect("html-page-context", add_plotly)
    app.connect("build-finished", copy_vendor)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
