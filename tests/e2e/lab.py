"""Drive JupyterLab in a real browser the way a student meets a notebook.

:class:`JupyterLab` serves a temporary copy of ``notebooks/`` on 127.0.0.1 (free port, random
token, ``LABKIT_QUICK=1``, its own settings and runtime directories) and stops it, its kernels
included, whatever happens. :func:`chromium` starts Debian's Chromium through Playwright (which
never downloads a browser here). :class:`NotebookPage` opens one notebook, dismisses the dialogs a
new user sees, runs all cells from the Run menu and then answers the questions the e2e tests ask:
did anything fail, did every widget and figure render, does a slider change its figure, does a
click in the embedding explorer list neighbours.

Two JupyterLab settings differ from a fresh install, both for the test's sake: notebook windowing
is off (every cell stays in the page, so counts and full-page screenshots see all of them) and the
widget manager saves widget state with the notebook (the saved state is the list of widgets the
kernel displayed, which the page's rendered widgets are counted against).
"""
from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
CHROMIUM = os.environ.get("LABKIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PLOTLY = "application/vnd.plotly.v1+json"
SETTINGS = {  # user settings of the test's JupyterLab (see the module docstring)
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyter-widgets/jupyterlab-manager/plugin.jupyterlab-settings": {"saveState": True},
}
# ipywidgets model name -> CSS selector of its rendered view (ipywidgets 8 adds "jupyter-widgets"
# and these classes to a view's element; models sharing a selector are counted together).
_SLIDER, _TEXT, _PROGRESS = ".jupyter-widgets.widget-slider", ".jupyter-widgets.widget-text", ".jupyter-widgets.widget-hprogress, .jupyter-widgets.widget-vprogress"
CONTROL_SELECTORS = {
    **dict.fromkeys(["FloatSliderModel", "IntSliderModel", "FloatLogSliderModel", "SelectionSliderModel",
                     "IntRangeSliderModel", "FloatRangeSliderModel", "SelectionRangeSliderModel"], _SLIDER),
    **dict.fromkeys(["TextModel", "IntTextModel", "FloatTextModel", "BoundedIntTextModel",
                     "BoundedFloatTextModel"], _TEXT),
    **dict.fromkeys(["IntProgressModel", "FloatProgressModel"], _PROGRESS),
    "DropdownModel": ".jupyter-widgets.widget-dropdown", "TextareaModel": ".jupyter-widgets.widget-textarea",
    "ButtonModel": ".jupyter-widgets.widget-button", "CheckboxModel": ".jupyter-widgets.widget-checkbox",
    "ToggleButtonsModel": ".jupyter-widgets.widget-toggle-buttons", "ToggleButtonModel": ".jupyter-widgets.widget-toggle-button",
    "RadioButtonsModel": ".jupyter-widgets.widget-radio", "SelectModel": ".jupyter-widgets.widget-select",
    "SelectMultipleModel": ".jupyter-widgets.widget-select-multiple", "HTMLModel": ".jupyter-widgets.widget-html",
    "HTMLMathModel": ".jupyter-widgets.widget-htmlmath", "LabelModel": ".jupyter-widgets.widget-label",
    "ImageModel": ".jupyter-widgets.widget-image", "PlayModel": ".jupyter-widgets.widget-play",
}
CONTAINERS = {"VBoxModel", "HBoxModel", "BoxModel", "GridBoxModel", "TabModel", "AccordionModel", "StackModel",
              "OutputModel"}
IGNORED = {"LayoutModel", "DescriptionStyleModel", "SliderStyleModel", "ButtonStyleModel", "ProgressStyleModel",
           "HTMLStyleModel", "LabelStyleModel", "TextStyleModel", "CheckboxStyleModel", "ToggleButtonStyleModel",
           "ToggleButtonsStyleModel", "HTMLMathStyleModel"}


def browser_unavailable() -> str | None:
    """Why no browser test can run here (None when Playwright and Chromium are both present)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (pip install -e '.[test]')"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set LABKIT_CHROMIUM)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """Every living process below ``pid`` (Linux /proc); kernels run in their own sessions, so
    killing the server's process group alone would leave them behind."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _kill(pids, sig) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


class JupyterLab:
    """A private JupyterLab server over a temporary copy of ``notebooks/`` (plus ``extra``
    notebooks, name -> nbformat dict); use as a context manager."""

    def __init__(self, source: Path = NOTEBOOKS, *, extra: dict | None = None, startup_timeout: float = 90.0):
        self.source, self.extra, self.startup_timeout = Path(source), dict(extra or {}), startup_timeout
        self.tmp = Path(tempfile.mkdtemp(prefix="labkit-e2e-"))
        self.root = self.tmp / "notebooks"
        self.port, self.token = None, secrets.token_urlsafe(24)
        self.process: subprocess.Popen | None = None

    # ------------------------------------------------------------- lifecycle
    def __enter__(self) -> "JupyterLab":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        shutil.copytree(self.source, self.root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        for name, notebook in self.extra.items():  # notebooks the harness tests itself with
            (self.root / name).write_text(json.dumps(notebook))
        settings = self.tmp / "settings"
        for rel, values in SETTINGS.items():
            (settings / rel).parent.mkdir(parents=True, exist_ok=True)
            (settings / rel).write_text(json.dumps(values))
        env = dict(os.environ, LABKIT_QUICK="1", JUPYTER_CONFIG_DIR=str(self.tmp / "config"),
                   JUPYTER_RUNTIME_DIR=str(self.tmp / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(settings),
                   JUPYTERLAB_WORKSPACES_DIR=str(self.tmp / "workspaces"), IPYTHONDIR=str(self.tmp / "ipython"),
                   PYTHONUNBUFFERED="1")
        env.pop("JUPYTER_TOKEN", None)
        # One OpenMP thread per kernel unless the caller says otherwise: on a 2-core machine
        # torch's default threads fight Chromium for the cores, and Run All became up to 7x
        # slower (notebook 04: 137 s with the default, 19 s with one thread).
        env.setdefault("OMP_NUM_THREADS", "1")
        for attempt in range(3):  # a free port can be taken between probing and binding
            self.port = free_port()
            args = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                    f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                    f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
                    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
            if hasattr(os, "geteuid") and os.geteuid() == 0:
                args.append("--allow-root")  # CI runs as root
            self.log = self.tmp / f"jupyterlab-{attempt}.log"
            with open(self.log, "w") as log:
                self.process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT,
                                                cwd=self.root, start_new_session=True)
            if self._wait_ready():
                return
            self.stop_server()
        raise RuntimeError(f"JupyterLab did not start; log:\n{self.log.read_text()[-3000:]}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                self.api("status")
                return True
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.25)
        return False

    def stop_server(self) -> None:
        """Shut kernels and server down politely, then kill whatever is left of the process tree."""
        proc, self.process = self.process, None
        if proc is None:
            return
        tree = _descendants(proc.pid)
        if proc.poll() is None:
            with contextlib.suppress(Exception):
                for kernel in self.api("kernels"):
                    self.api(f"kernels/{kernel['id']}", method="DELETE")
            tree = sorted(set(tree) | set(_descendants(proc.pid)))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        _kill(tree, signal.SIGKILL)

    def stop(self) -> None:
        try:
            self.stop_server()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ------------------------------------------------------------- REST
    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(f"{self.base}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def url(self, notebook: str) -> str:
        # ?reset: start from an empty workspace, so an earlier test's notebook is not reopened
        return f"{self.base}/lab/tree/{notebook}?reset&token={self.token}"

    def shutdown_kernels(self) -> None:
        for kernel in self.api("kernels"):
            self.api(f"kernels/{kernel['id']}", method="DELETE")

    def saved(self, notebook: str) -> dict:
        return json.loads((self.root / notebook).read_text())


_DRIVER = None


def _driver():
    """One Playwright driver per process, started on first use and stopped at exit: its sync API
    runs an event loop in this thread, so a second ``sync_playwright()`` while the first is open (the
    site or app test while the notebook tests' browser is still up) would refuse to start."""
    global _DRIVER
    if _DRIVER is None:
        from playwright.sync_api import sync_playwright

        _DRIVER = sync_playwright().start()
        atexit.register(_DRIVER.stop)
    return _DRIVER


@contextlib.contextmanager
def chromium(*, viewport=(1400, 900)):
    """A fresh Debian /usr/bin/chromium driven by Playwright; yields a browser context and closes the
    browser afterwards. Several may be open at once (they share the process's driver)."""
    browser = _driver().chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
    try:
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        yield context
    finally:
        with contextlib.suppress(Exception):
            browser.close()


# ----------------------------------------------------------------- the notebook page
# Small JavaScript helpers evaluated in the page.
_JS_PROMPTS = """() => Array.from(document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell'))
  .map(c => (c.querySelector('.jp-InputArea-prompt') || {}).textContent || '')"""
_JS_KERNEL = """() => { const p = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const bar = p && p.querySelector('.jp-NotebookPanel-toolbar');
  if (!bar || /No Kernel|Kernel Unknown|Starting|Connecting/.test(bar.innerText)) return 'no kernel';
  const status = document.querySelector('#jp-main-statusbar');
  if (status && /No Kernel|Initializing|Starting|Connecting|Restarting|Unknown/.test(status.innerText)) return 'starting';
  const e = p.querySelector('.jp-Notebook-ExecutionIndicator');
  return e ? e.getAttribute('data-status') : null; }"""
_JS_FIGURE_SIGNATURE = """(root) => {
  const plain = (k, v) => (ArrayBuffer.isView(v) ? Array.from(v) : v);
  let h = 2166136261 >>> 0;
  for (const gd of root.querySelectorAll('.js-plotly-plot')) {
    const s = JSON.stringify([gd.data, (gd.layout || {}).title, (gd.layout || {}).annotations], plain) || '';
    for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619) >>> 0; }
  }
  return h;
}"""
_JS_POINT = """([root, i]) => {
  const gd = root.querySelector('.js-plotly-plot');
  const t = gd._fullData.find(t => t.x && t.x.length > i && t.mode && t.mode.includes('markers'));
  const xa = gd._fullLayout[(t.xaxis || 'x').replace('x', 'xaxis')], ya = gd._fullLayout[(t.yaxis || 'y').replace('y', 'yaxis')];
  const r = gd.getBoundingClientRect();
  return [r.left + xa._offset + xa.l2p(t.x[i]), r.top + ya._offset + ya.l2p(t.y[i])];
}"""


@dataclass
class NotebookResult:
    name: str
    seconds: float = 0.0
    prompts: list = field(default_factory=list)
    saved: dict = field(default_factory=dict)


class NotebookPage:
    """One notebook opened in JupyterLab in ``context`` (a Playwright browser context)."""

    def __init__(self, context, lab: JupyterLab, name: str):
        self.lab, self.name = lab, name
        self.page = context.new_page()
        self.console_errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on("pageerror", lambda e: self.console_errors.append(f"page error: {e}"))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.page.close()

    # ------------------------------------------------------------- open and run
    def open(self, timeout: float = 120.0) -> None:
        self.page.goto(self.lab.url(self.name), timeout=timeout * 1000)
        self.page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=timeout * 1000)
        deadline = time.monotonic() + timeout
        while self.page.evaluate(_JS_KERNEL) != "idle":  # the kernel has started and is ready
            self.dismiss_dialogs()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: the kernel did not become idle after opening")
            time.sleep(0.25)
        self.wait_for_news()
        self.dismiss_dialogs()
        self.page.keyboard.press("Control+b")  # hide the file browser: the notebook gets the width
        time.sleep(0.5)

    def dismiss_dialogs(self) -> list[str]:
        """Accept JupyterLab's kernel-selection dialog (keeping the proposed kernel) and answer
        "No" to the news notification; returns what was dismissed."""
        done = []
        dialog = self.page.locator(".jp-Dialog")
        if dialog.count():
            text = dialog.first.inner_text()
            if "kernel" not in text.lower():
                raise AssertionError(f"{self.name}: unexpected dialog: {text[:300]}")
            dialog.first.locator(".jp-Dialog-button.jp-mod-accept").click()
            done.append("kernel dialog")
        for toast in self.page.locator(".jp-Notification-Toast-default").all():
            with contextlib.suppress(Exception):
                if "news" in toast.inner_text().lower():
                    toast.locator('button[title="No"]').click(timeout=2000)
                    self.lab.news_answered = True
                    done.append("news notification")
        return done

    def wait_for_news(self, timeout: float = 20.0) -> None:
        """JupyterLab asks about news once per settings directory, a few seconds after it loads:
        wait for that question on the first page and answer it, so it covers no output later."""
        deadline = time.monotonic() + timeout
        while not getattr(self.lab, "news_answered", False) and time.monotonic() < deadline:
            self.dismiss_dialogs()
            time.sleep(0.25)
        self.lab.news_answered = True

    def menu(self, top: str, item: str) -> None:
        self.page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=top).first.click()
        self.page.locator(".lm-Menu-content .lm-Menu-itemLabel", has_text=item).first.click()

    def run_all(self, timeout: float = 600.0) -> NotebookResult:
        """Run → Run All Cells; wait until every code cell has run and the kernel is idle."""
        self.dismiss_dialogs()
        start = time.monotonic()
        self.menu("Run", "Run All Cells")
        self.wait_idle(timeout, since=start)
        result = NotebookResult(self.name, seconds=time.monotonic() - start, prompts=self.page.evaluate(_JS_PROMPTS))
        return result

    def wait_idle(self, timeout: float = 120.0, since: float | None = None, settle: float = 1.0) -> None:
        """Wait until no cell is queued or running and the kernel has stayed idle for ``settle`` s."""
        since = time.monotonic() if since is None else since
        quiet = None
        time.sleep(0.3)
        while True:
            busy = self.page.evaluate(_JS_KERNEL) != "idle" or any("*" in p for p in self.page.evaluate(_JS_PROMPTS))
            now = time.monotonic()
            if busy:
                quiet = None
            elif quiet is None:
                quiet = now
            elif now - quiet >= settle:
                return
            if now - since > timeout:
                raise TimeoutError(f"{self.name}: still running after {timeout:.0f} s")
            time.sleep(0.2)

    def save(self, timeout: float = 30.0) -> dict:
        """Save with Ctrl+S (widget state included) and return the notebook as written on disk."""
        path = self.lab.root / self.name
        before = path.stat().st_mtime_ns
        self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").first.click(position={"x": 5, "y": 5})
        self.page.keyboard.press("Control+s")
        deadline = time.monotonic() + timeout
        while path.stat().st_mtime_ns == before:
            self.dismiss_dialogs()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: Ctrl+S did not save the notebook")
            time.sleep(0.2)
        while True:  # the server may still be writing: wait for a complete, parseable file
            time.sleep(0.5)
            mtime = path.stat().st_mtime_ns
            try:
                saved = json.loads(path.read_text())
            except json.JSONDecodeError:
                saved = None
            if saved is not None and path.stat().st_mtime_ns == mtime:
                return saved
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: the saved notebook is not valid JSON")

    # ------------------------------------------------------------- what the page shows
    def error_outputs(self) -> list[str]:
        """Error tracebacks and stderr text that reads as an error, as rendered in the page."""
        return self.page.evaluate("""() => Array.from(document.querySelectorAll(
              '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
            .map(e => e.innerText).filter(t => /Traceback|Error|Exception/.test(t))
            .concat(Array.from(document.querySelectorAll('.jp-OutputArea-output'))
              .map(e => e.innerText).filter(t => /Error displaying widget|Error rendering|Javascript Error/.test(t)))""")

    def warnings(self) -> list[str]:
        return self.page.evaluate("""() => Array.from(document.querySelectorAll(
              '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
            .map(e => e.innerText.trim().slice(0, 300)).filter(t => t && !/Traceback|Error|Exception/.test(t))""")

    def log_console(self, timeout: float = 10.0) -> list[str]:
        """Entries of JupyterLab's log console. Errors raised in widget callbacks land there, not
        under a cell: a student sees only a number in the status bar. Opens the console when that
        number is non-zero (call last: the console takes room from the notebook)."""
        item = self.page.locator(".jp-LogConsoleStatusItem")
        if not item.count() or not any(ch.isdigit() and ch != "0" for ch in item.first.inner_text()):
            return []
        item.first.click()
        self.page.wait_for_selector(".jp-LogConsolePanel", timeout=timeout * 1000)
        time.sleep(1.0)
        # keep the end of each entry: a traceback ends with the exception and its message
        return [t.strip()[-2000:] for t in self.page.locator(".jp-LogConsolePanel .jp-OutputArea-output").all_inner_texts()]

    def rendered_outputs(self) -> list[list[dict]]:
        """For every code cell, what each of its outputs renders: the number of views of each
        control selector, of drawn plotly figures, and whether a widget view is there at all."""
        selectors = sorted(set(CONTROL_SELECTORS.values()))
        return self.page.evaluate("""(selectors) => {
            const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
            const drawn = gd => !!gd.querySelector('.main-svg') && gd.getBoundingClientRect().width > 50
                                && gd.getBoundingClientRect().height > 50;
            return Array.from(panel.querySelectorAll('.jp-CodeCell')).map(cell =>
              Array.from(cell.querySelectorAll('.jp-OutputArea-output'))
                .filter(o => !o.parentElement.closest('.jupyter-widgets'))   // outputs of Output widgets count inside their widget
                .map(o => {
                  const widget = o.querySelector(':scope > .jupyter-widgets');
                  const r = {widget: !!widget, figures: Array.from(o.querySelectorAll('.js-plotly-plot')).filter(drawn).length
                             + (o.classList.contains('js-plotly-plot') && drawn(o) ? 1 : 0),
                             text: o.innerText.slice(0, 300)};
                  if (widget) for (const s of selectors) r[s] = o.querySelectorAll(s).length;
                  return r;
                }));
        }""", selectors)

    def mark_panels(self) -> int:
        """Tag every top-level widget output with ``data-e2e-panel``; returns how many there are."""
        return self.page.evaluate("""() => {
            const outs = Array.from(document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output'))
              .filter(o => o.querySelector(':scope > .jupyter-widgets') && !o.parentElement.closest('.jupyter-widgets'));
            outs.forEach((o, i) => o.setAttribute('data-e2e-panel', String(i)));
            return outs.length; }""")

    def widget_outputs(self) -> list:
        return [self.page.locator(f'[data-e2e-panel="{i}"]') for i in range(self.mark_panels())]

    def panels(self) -> list:
        """The interactive panels: top-level widget outputs holding a plotly figure and a slider
        or a dropdown."""
        return [o for o in self.widget_outputs() if o.locator(".js-plotly-plot").count()
                and (o.locator(".widget-slider").count() or o.locator(".widget-dropdown select").count())]

    def figure_signature(self, root) -> int:
        return root.evaluate(_JS_FIGURE_SIGNATURE)

    def move_slider(self, slider, pixels: float = 40) -> tuple[str, str]:
        """Drag a slider's handle by ``pixels`` (at most 30 % of its track) (to the left when it sits at its maximum); returns
        the readout before and after."""
        slider.scroll_into_view_if_needed()
        readout = slider.locator(".widget-readout")
        before = readout.inner_text()
        handle = slider.locator(".noUi-handle").first
        box, track = handle.bounding_box(), slider.locator(".noUi-target").first.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        pixels = max(6.0, min(pixels, 0.3 * track["width"]))
        dx = pixels if x + pixels < track["x"] + track["width"] else -pixels
        self.page.mouse.move(x, y)
        self.page.mouse.down()
        self.page.mouse.move(x + dx / 2, y, steps=4)
        self.page.mouse.move(x + dx, y, steps=4)
        self.page.mouse.up()
        return before, readout.inner_text()

    def choose_other_option(self, dropdown) -> tuple[str, str]:
        """Pick the next option of a dropdown (as a user would from the list); returns (before, after)."""
        select = dropdown.locator("select").first
        select.scroll_into_view_if_needed()
        options = select.evaluate("s => Array.from(s.options).map(o => o.value)")
        before = select.evaluate("s => s.value")
        if len(options) < 2:
            return before, before
        after = options[(options.index(before) + 1) % len(options)] if before in options else options[0]
        select.select_option(after)
        return before, after

    def control_changes_figure(self, panel, timeout: float = 90.0, settle: float = 5.0) -> dict:
        """Move the panel's sliders one at a time, then try its dropdowns, until one changes a
        figure of the panel; returns which control, its values and how long the redraw took."""
        tried = []
        # only the controls a student can see (a panel may hide those that do not apply)
        controls = [("slider", c) for c in panel.locator(".widget-slider").all() if c.is_visible()]
        controls += [("dropdown", c) for c in panel.locator(".widget-dropdown").all() if c.is_visible()]
        for index, (kind, control) in enumerate(controls):
            labels = control.locator(".widget-label")
            label = (labels.first.inner_text() if labels.count() else "") or f"{kind} {index + 1}"
            signature = self.figure_signature(panel)
            before, after = self.move_slider(control) if kind == "slider" else self.choose_other_option(control)
            if before == after:
                tried.append(f"{label}: could not change it ({before})")
                continue
            start = time.monotonic()
            self.wait_idle(timeout)
            deadline = time.monotonic() + settle
            while True:
                if self.figure_signature(panel) != signature:
                    return {"control": label, "kind": kind, "from": before, "to": after,
                            "seconds": round(time.monotonic() - start, 2)}
                if time.monotonic() > deadline:
                    break
                time.sleep(0.25)
            tried.append(f"{label}: {before} -> {after} left every figure unchanged")
        raise AssertionError(f"{self.name}: no control changed its panel's figure: {tried}")

    def explorer_panels(self) -> list:
        """Widget outputs holding labkit's embedding explorer (its side panel invites a click)."""
        return [o for o in self.widget_outputs()
                if "nearest neighbours" in o.inner_text() and o.locator(".js-plotly-plot").count()]

    def click_point(self, panel, index: int = 0, timeout: float = 60.0) -> str:
        """Click point ``index`` of the explorer's first map; return the neighbours panel's text."""
        panel.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
        x, y = self.page.evaluate(_JS_POINT, [panel.element_handle(), index])
        self.page.mouse.move(x - 3, y - 3)
        self.page.mouse.move(x, y, steps=3)
        time.sleep(0.3)  # plotly fires plotly_click from the point it is hovering
        self.page.mouse.click(x, y)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = panel.inner_text()
            if "nearest in" in text:
                self.wait_idle(timeout)
                return panel.inner_text()
            time.sleep(0.25)
        raise AssertionError(f"{self.name}: clicking a point of the explorer filled no neighbours panel")

    def full_page_screenshot(self, path: Path, max_height: int = 24000) -> Path:
        """Screenshot the whole notebook: grow the window to the notebook's height, then shoot."""
        size = self.page.viewport_size
        height = self.page.evaluate("""() => {
            const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer')
                    || document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
            nb.scrollTop = 0;
            return nb.scrollHeight + (window.innerHeight - nb.clientHeight) + 20; }""")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.page.set_viewport_size({"width": size["width"], "height": min(int(height), max_height)})
            time.sleep(1.5)  # plotly relayouts on resize
            self.page.screenshot(path=str(path), full_page=True)
        finally:
            self.page.set_viewport_size(size)
        return path


# ----------------------------------------------------------------- what the notebook displayed
def widget_state(saved: dict) -> dict:
    """The widget models saved with the notebook (model id -> {model_name, state, ...})."""
    return saved.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def displayed_views(state: dict, root: str) -> dict:
    """What displaying widget ``root`` shows, counted from the saved widget state: every control
    (by its view's CSS selector) and every plotly FigureWidget reachable through ``children`` and
    through Output widgets; ``missing`` counts models the state no longer holds (closed ones)."""
    counts: dict = {}
    seen, todo = set(), [root]
    while todo:
        model_id = todo.pop()
        if model_id in seen:
            continue
        seen.add(model_id)
        model = state.get(model_id)
        if model is None:
            counts["missing"] = counts.get("missing", 0) + 1
            continue
        name, values = model["model_name"], model.get("state", {})
        todo.extend(c[len("IPY_MODEL_"):] for c in values.get("children", []) if isinstance(c, str))
        todo.extend(out["data"][WIDGET_VIEW]["model_id"] for out in values.get("outputs", [])
                    if WIDGET_VIEW in out.get("data", {}))
        if name in CONTAINERS or name in IGNORED:
            continue
        if "_widget_data" in values or "_py2js_restyle" in values:  # plotly's FigureWidget (an anywidget)
            key = "figure_widgets"
        else:
            key = CONTROL_SELECTORS.get(name, f"unknown widget {name}")
        counts[key] = counts.get(key, 0) + 1
    return counts


def compare_rendering(saved: dict, rendered: list[list[dict]]) -> tuple[dict, list[str]]:
    """Match every output the notebook saved with what the page renders for it.

    Returns totals ``{kind: [displayed, rendered]}`` (controls by selector, ``figure_widgets``,
    ``static_figures``, ``widget_outputs``) and a list of problems (empty when all rendered)."""
    state, totals, problems = widget_state(saved), {}, []

    def tally(kind, displayed, shown):
        pair = totals.setdefault(kind, [0, 0])
        pair[0] += displayed
        pair[1] += shown

    code = [c for c in saved["cells"] if c["cell_type"] == "code"]
    if len(code) != len(rendered):
        return totals, [f"{len(code)} code cells saved but {len(rendered)} in the page"]
    for i, (cell, shown) in enumerate(zip(code, rendered)):
        outputs = cell.get("outputs", [])
        if len(outputs) != len(shown):
            problems.append(f"code cell {i + 1}: {len(outputs)} outputs saved, {len(shown)} in the page")
            continue
        for out, r in zip(outputs, shown):
            data = out.get("data", {})
            if WIDGET_VIEW in data:
                expected = displayed_views(state, data[WIDGET_VIEW]["model_id"])
                if expected.get("missing") and len(expected) == 1:
                    continue  # the kernel closed this widget (e.g. a finished progress bar): nothing to show
                tally("widget_outputs", 1, int(r["widget"]))
                if not r["widget"]:
                    problems.append(f"code cell {i + 1}: a widget did not render; the page shows {r['text']!r}")
                    continue
                for kind, n in expected.items():
                    if kind == "missing":
                        continue
                    got = r.get(kind, 0) if kind != "figure_widgets" else r["figures"]
                    if kind.startswith("unknown"):
                        problems.append(f"code cell {i + 1}: {kind} (no selector known to count it)")
                    tally(kind, n, got)
                    if got != n:
                        problems.append(f"code cell {i + 1}: {n} × {kind} displayed, {got} rendered")
            elif PLOTLY in data:
                tally("static_figures", 1, min(r["figures"], 1))
                if not r["figures"]:
                    problems.append(f"code cell {i + 1}: a plotly figure did not render; the page shows {r['text']!r}")
    return totals, problems


def static_figures(saved: dict) -> int:
    """How many plotly figures the notebook displayed as outputs (``fig.show()``)."""
    return sum(PLOTLY in out.get("data", {}) for cell in saved["cells"] if cell["cell_type"] == "code"
               for out in cell.get("outputs", []))


def saved_errors(saved: dict) -> list[str]:
    """Error outputs (and tracebacks printed to stderr) in a saved notebook."""
    found = []
    for i, cell in enumerate(saved["cells"]):
        for out in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            if out["output_type"] == "error":
                found.append(f"cell {i}: {out.get('ename')}: {out.get('evalue')}")
            elif out["output_type"] == "stream" and out.get("name") == "stderr" and "Traceback" in "".join(out["text"]):
                found.append(f"cell {i}: traceback on stderr: {''.join(out['text'])[-500:]}")
    return found
