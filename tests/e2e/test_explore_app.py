"""``labkit explore`` as a user meets it: the command serves a saved embedding of digits, Chromium opens it.

One server and one page for the whole test (about a minute): the map is drawn and fits its box, no
request leaves 127.0.0.1, a click lists the point's nearest neighbours, colour-by changes the figure,
the keyboard reaches "show example #" and Enter lists that example's neighbours, and the console
shows no error. A screenshot lands in ``build/e2e/explore_app.png`` (the README's is a copy).
Deselected from a plain ``pytest``; run with ``pytest -m e2e tests/e2e``.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from .lab import _JS_POINT, ROOT, _descendants, _kill, browser_unavailable, chromium, free_port

pytestmark = pytest.mark.e2e

START_TIMEOUT = 120.0  # s until the server answers (imports, projection)
DRAW_TIMEOUT = 180.0  # s until the map is drawn (the kernel starts and runs the page on the first visit)
_JS_MAPS = """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
  .filter(g => g._fullData && g._fullData.some(t => t.x && t.x.length > 100))
  .map(g => ({width: g._fullLayout.width, box: g.parentElement.getBoundingClientRect().width,
              colours: JSON.stringify(g._fullData[0].marker.color).slice(0, 2000),
              legend: g._fullData.length - 3}))"""  # the explorer's class entries follow its three fixed traces


def _saved_digits(folder: Path) -> Path:
    """A saved embedding of the digits test set (pixels as features), in the --save-embeddings format."""
    from labkit.app.folder import save_run
    from labkit.data import load_dataset

    test = load_dataset("digits", "test")
    ink = test.x.flatten(1).sum(1)
    return save_run(folder, "digits-pixels", test.x.flatten(1), labels=test.y, classes=test.classes,
                    meta={"true": [test.classes[i] for i in test.y], "ink": ink.tolist()}, images=test.x)


@pytest.fixture(scope="module")
def app():
    """``labkit explore`` on the saved digits, in its own process group; stopped with its kernel."""
    reason = browser_unavailable()
    if reason:
        pytest.skip(f"browser tests skipped: {reason}")
    tmp = Path(tempfile.mkdtemp(prefix="labkit-e2e-explore-"))
    run = _saved_digits(tmp / "emb")
    env = {**os.environ, "LABKIT_DATA": str(tmp / "cache"), "OMP_NUM_THREADS": "1"}
    log = open(tmp / "server.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "labkit", "explore", str(run), "--projection", "pca",
                             "--port", str(free_port()), "--no-browser"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = _wait_serving(proc, tmp / "server.log")
        yield {"url": url, "log": tmp / "server.log"}
    finally:
        children = _descendants(proc.pid)
        proc.terminate()  # Voila shuts its kernels down on SIGTERM
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        _kill(_descendants(proc.pid) + children, 9)
        log.close()


def _wait_serving(proc, log: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"labkit explore exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        found = re.search(r"at (http://127\.0\.0\.1:\d+/)", log.read_text())
        if found:
            try:  # the bundle the page imports: answers once Voila listens (the page itself would run the kernel)
                urllib.request.urlopen(found.group(1) + "voila/files/plotly-widget.js", timeout=5).close()
                return found.group(1)
            except OSError:
                pass
        time.sleep(0.5)
    pytest.fail(f"labkit explore did not serve within {START_TIMEOUT:.0f} s:\n{log.read_text()[-3000:]}")


def _neighbours_listed(page, timeout: float = 30.0) -> str:
    page.wait_for_function("() => document.body.innerText.includes('nearest in')", timeout=timeout * 1000,
                           polling=100)
    return page.inner_text("body")


def test_explore_app_in_chromium(app, out_dir):
    with chromium() as context:
        page = context.new_page()
        errors, outside = [], []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.on("request", lambda r: r.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:"))
                or outside.append(r.url))
        start = time.monotonic()
        page.goto(app["url"], wait_until="commit", timeout=DRAW_TIMEOUT * 1000)
        page.wait_for_function(f"() => ({_JS_MAPS})().length > 0", timeout=DRAW_TIMEOUT * 1000, polling=200)
        print(f"labkit explore: map drawn {time.monotonic() - start:.1f} s after opening the page")
        time.sleep(1.0)  # the maps redraw to their boxes' width
        (before,) = page.evaluate(_JS_MAPS)
        assert before["width"] <= before["box"] + 1, f"the map is wider than its box: {before}"
        assert before["legend"] == 10, "coloured by class, the legend lists the ten digits"

        x, y = page.evaluate(_JS_POINT, [page.locator("body").element_handle(), 5])
        page.mouse.move(x - 3, y - 3)
        page.mouse.move(x, y, steps=3)
        time.sleep(0.3)  # plotly fires plotly_click from the point it is hovering
        page.mouse.click(x, y)
        text = _neighbours_listed(page)
        assert len(re.findall(r"#\d+ d=\d", text)) == 8, text[:500]

        page.locator(".widget-dropdown", has_text="colour by").locator("select").select_option("ink")
        page.wait_for_function(f"(old) => ({_JS_MAPS})()[0].colours !== old", arg=before["colours"], timeout=30_000)
        (after,) = page.evaluate(_JS_MAPS)
        assert after["legend"] == 0, "a continuous column is a colour bar, not a legend"

        page.locator(".widget-button", has_text="clear").click()
        page.wait_for_function("() => !document.body.innerText.includes('nearest in')", timeout=30_000)
        page.locator("select").first.focus()
        for _ in range(12):  # Tab from the first control to the example box
            page.keyboard.press("Tab")
            if page.evaluate("() => (document.activeElement.placeholder || '').includes('Enter')"):
                break
        else:
            pytest.fail("the Tab key never reaches the 'show example #' box")
        page.keyboard.type("17")
        page.keyboard.press("Enter")
        assert "example #17" in _neighbours_listed(page)

        page.screenshot(path=str(out_dir / "explore_app.png"))
        assert not outside, f"requests left 127.0.0.1: {outside}"
        assert not errors, f"console errors: {errors}"
