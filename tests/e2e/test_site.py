"""The course site in a real browser: build it, serve it on localhost, open every page.

The site is built with ``bash docs/build.sh build/site-e2e`` (its time is printed) without the
solution notebooks (``LABKIT_SITE_SOLUTIONS=0``, a minute and a half less of CI; set
``LABKIT_SITE_SOLUTIONS=1`` to build them too), or taken from ``LABKIT_SITE_DIR`` when that names an
already built site. A local HTTP server serves it on
127.0.0.1 and Chromium (the same Playwright harness as the notebook tests, tests/e2e/lab.py) opens
every HTML page once, with every request that would leave localhost aborted and recorded. Then:
- no page logs a console error, raises a script error, or fails to load one of its own files;
- no page asks for anything from another host (plotly.js, MathJax, fonts and badges are bundled);
- every plotly figure of every page is drawn (an svg inside ``.js-plotly-plot``), each notebook
  draws at least one, and a figure answers the mouse (a hover label appears);
- maths is typeset by the bundled MathJax;
- every widget panel of a notebook is replaced by its note, with Binder and Colab links;
- every ``<a href>`` to a page of the site names a file that exists, and its ``#fragment`` an
  element of that page.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from .lab import ROOT, browser_unavailable, chromium, free_port

pytestmark = pytest.mark.e2e

BUILD_TIMEOUT = float(os.environ.get("LABKIT_SITE_TIMEOUT", 900))  # s; about 3-4 min on 2 cores
NOTEBOOK_PAGES = sorted(f"notebooks/{p.stem}.html" for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# collect, for every page: what it logged, what it asked for, what it drew, where it links
_JS_PAGE = """() => {
  const figures = Array.from(document.querySelectorAll('.labkit-plotly'));
  const drawn = figures.filter(f => f.classList.contains('js-plotly-plot') && f.querySelector('svg.main-svg')
                                    && f.getBoundingClientRect().width > 50 && f.getBoundingClientRect().height > 50);
  return {
    figures: figures.length, drawn: drawn.length,
    others: document.querySelectorAll('.js-plotly-plot:not(.labkit-plotly)').length,
    math: document.querySelectorAll('.math').length, typeset: document.querySelectorAll('mjx-container').length,
    notes: Array.from(document.querySelectorAll('.labkit-widget-note')).map(n =>
             Array.from(n.querySelectorAll('a')).map(a => a.href)),
    links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
    errors: Array.from(document.querySelectorAll('.cell_output .output.error, .cell_output .traceback'))
             .map(e => e.innerText.slice(0, 300)),
  };
}"""


def _say(request, line: str) -> None:
    """Print ``line`` in pytest's output even when the test passes (times are worth seeing in CI)."""
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if reporter is None or capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


@pytest.fixture(scope="module")
def site(request) -> Path:
    reason = browser_unavailable()
    if reason:
        pytest.skip(f"browser tests skipped: {reason}")
    given = os.environ.get("LABKIT_SITE_DIR")
    if given:
        path = Path(given)
        assert (path / "index.html").is_file(), f"LABKIT_SITE_DIR={given} holds no built site (no index.html)"
        _say(request, f"\ncourse site: using the site built in {path}")
        return path
    path = ROOT / "build" / "site-e2e"
    start = time.monotonic()
    env = dict(os.environ, LABKIT_SITE_SOLUTIONS=os.environ.get("LABKIT_SITE_SOLUTIONS", "0"))
    # its own process group, so a build past the timeout is stopped whole (its notebook workers too)
    build = subprocess.Popen(["bash", "docs/build.sh", str(path)], cwd=ROOT, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        stdout, stderr = build.communicate(timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(build.pid, signal.SIGKILL)
        stdout, stderr = build.communicate()
        pytest.fail(f"bash docs/build.sh ran past {BUILD_TIMEOUT:.0f} s:\n{(stdout + stderr)[-6000:]}")
    seconds = time.monotonic() - start
    tail = (stdout + stderr)[-6000:]
    assert build.returncode == 0, f"bash docs/build.sh failed (exit {build.returncode}) after {seconds:.0f} s:\n{tail}"
    summary = [l for l in stdout.splitlines() if l.startswith(("site built", "notebooks:", "links:"))]
    _say(request, f"\ncourse site: bash docs/build.sh built it in {seconds:.0f} s | " + " | ".join(summary))
    return path


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(site):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()),
                                             functools.partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _pages(site: Path) -> list[str]:
    """Every HTML page of the site (not the theme's template fragments that Sphinx copies to _static/)."""
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                  if "_static" not in p.relative_to(site).parts)


@pytest.fixture(scope="module")
def visits(request, site, served) -> dict:
    """Open every page once; returns page -> what it showed, logged and requested."""
    base, records = served, {}
    host = urlsplit(base).netloc
    with chromium() as context:
        outside: list[str] = []

        def route(r):
            if urlsplit(r.request.url).netloc == host or r.request.url.startswith(("data:", "blob:")):
                r.continue_()
            else:
                outside.append(r.request.url)
                r.abort()

        context.route("**/*", route)
        page = context.new_page()
        events: list[str] = []
        page.on("console", lambda m: m.type == "error" and events.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: events.append(f"script error: {e}"))
        # a request cancelled by the page itself (ERR_ABORTED: e.g. the dark-mode logo, hidden) is no
        # failure; a missing file answers 404 and is caught below
        page.on("requestfailed", lambda r: "ERR_ABORTED" not in (r.failure or "")
                and events.append(f"request failed: {r.url} ({r.failure})"))
        page.on("response", lambda r: r.status >= 400 and events.append(f"HTTP {r.status}: {r.url}"))
        start = time.monotonic()
        for name in _pages(site):
            events.clear()
            outside.clear()
            page.goto(f"{base}/{name}", wait_until="load", timeout=60_000)
            with contextlib.suppress(Exception):  # figures and maths draw after load; wait for them
                page.wait_for_function("""() => Array.from(document.querySelectorAll('.labkit-plotly'))
                    .every(f => f.querySelector('svg.main-svg'))
                    && (!document.querySelector('.math') || document.querySelector('mjx-container'))""",
                                       timeout=30_000)
            record = page.evaluate(_JS_PAGE)
            record["events"], record["outside"] = list(events), list(outside)
            records[name] = record
        records["_hover"] = _hover_label(page, base)
        _say(request, f"\ncourse site: opened {len(records) - 1} pages in {time.monotonic() - start:.0f} s "
                      f"({sum(r['figures'] for k, r in records.items() if k != '_hover')} plotly figures)")
    return records


def _hover_label(page, base: str) -> str:
    """Hover the first marker of the first scatter figure of notebook 00; returns the hover text."""
    page.goto(f"{base}/{NOTEBOOK_PAGES[0]}", wait_until="load")
    page.wait_for_selector(".labkit-plotly svg.main-svg", timeout=30_000)
    point = page.evaluate("""() => {
      for (const gd of document.querySelectorAll('.labkit-plotly')) {
        const i = (gd._fullData || []).findIndex(t => t.type === 'scatter' && t.mode && t.mode.includes('markers')
                                                       && t.x && t.x.length && t.hoverinfo !== 'skip');
        if (i < 0) continue;
        const t = gd._fullData[i], xa = gd._fullLayout[(t.xaxis || 'x').replace('x', 'xaxis')],
              ya = gd._fullLayout[(t.yaxis || 'y').replace('y', 'yaxis')];
        gd.scrollIntoView({block: 'center'});
        const r = gd.getBoundingClientRect();
        return [r.left + xa._offset + xa.l2p(t.x[0]), r.top + ya._offset + ya.l2p(t.y[0])];
      }
      return null; }""")
    if point is None:
        return "no scatter figure on the page"
    page.mouse.move(point[0] - 4, point[1] - 4)
    page.mouse.move(point[0], point[1], steps=4)
    with contextlib.suppress(Exception):
        page.wait_for_selector(".hoverlayer .hovertext", timeout=5_000)
    return page.evaluate("() => Array.from(document.querySelectorAll('.hoverlayer .hovertext')).map(e => e.textContent).join(' | ')")


def _pages_of(visits):
    return {k: v for k, v in visits.items() if not k.startswith("_")}


def test_every_page_loads_cleanly(visits):
    pages = _pages_of(visits)
    assert "index.html" in pages and set(NOTEBOOK_PAGES) <= set(pages), f"pages missing from the site: {sorted(pages)[:20]}"
    problems = [f"{name}: {e}" for name, r in pages.items() for e in r["events"] + [f"error output: {x}" for x in r["errors"]]]
    assert not problems, "pages with errors:\n  " + "\n  ".join(problems[:40])


def test_no_request_leaves_localhost(visits):
    outside = sorted({f"{name}: {url}" for name, r in _pages_of(visits).items() for url in r["outside"]})
    assert not outside, "requests to other hosts (the site must work offline):\n  " + "\n  ".join(outside[:40])


def test_every_plotly_figure_is_drawn_and_answers_the_mouse(visits):
    pages = _pages_of(visits)
    undrawn = [f"{name}: {r['drawn']} of {r['figures']} figures drawn" for name, r in pages.items()
               if r["drawn"] != r["figures"] or r["others"]]
    assert not undrawn, "\n  ".join(undrawn)
    empty = [name for name in NOTEBOOK_PAGES if pages[name]["figures"] == 0]
    assert not empty, f"notebook pages without any figure: {empty}"
    assert visits["_hover"] and "no scatter" not in visits["_hover"], \
        f"hovering a point of a figure showed no label: {visits['_hover']!r}"


def test_maths_is_typeset_offline(visits):
    pages = _pages_of(visits)
    untypeset = [name for name, r in pages.items() if r["math"] and not r["typeset"]]
    assert not untypeset, f"pages whose maths MathJax did not typeset: {untypeset}"
    assert pages["docs/reference.html"]["typeset"] > 20


def test_widget_panels_say_they_need_a_kernel(visits):
    pages = _pages_of(visits)
    notes = [links for name in NOTEBOOK_PAGES for links in pages[name]["notes"]]
    assert notes, "no notebook page shows a note in place of a widget panel"
    for links in notes:
        assert any("mybinder.org" in l for l in links) and any("colab.research.google.com" in l for l in links), links


def test_internal_links_resolve(site, served, visits):
    from html.parser import HTMLParser

    class Ids(HTMLParser):
        def __init__(self):
            super().__init__()
            self.ids = set()

        def handle_starttag(self, tag, attrs):
            self.ids.update(v for k, v in attrs if k in ("id", "name") and v)

    @functools.lru_cache(maxsize=None)
    def ids(path: Path) -> frozenset:
        parser = Ids()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        return frozenset(parser.ids)

    broken, checked = [], 0
    for name, r in _pages_of(visits).items():
        for href in r["links"]:
            parts = urlsplit(href)
            if f"{parts.scheme}://{parts.netloc}" != served:
                continue
            checked += 1
            target = site / unquote(parts.path).lstrip("/")
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{name}: {href} (no such file)")
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in ids(target):
                broken.append(f"{name}: {href} (no element #{parts.fragment})")
    assert checked > 100, f"only {checked} internal links found"
    assert not broken, f"{len(broken)} broken internal links:\n  " + "\n  ".join(broken[:40])
