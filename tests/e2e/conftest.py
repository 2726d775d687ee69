"""Fixtures of the browser tests: one JupyterLab server and one Chromium for the whole session.

Both are skipped, with the reason, when Playwright or Chromium is missing; both are stopped in
``finally`` blocks however the tests end. ``LABKIT_E2E_OUT`` (default ``build/e2e``) receives the
full-page screenshots and ``timings.json``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .lab import ROOT, JupyterLab, browser_unavailable, chromium
from .selftest import SELFTEST, selftest_notebook

RESULTS: dict[str, dict] = {}


@pytest.fixture(scope="session")
def out_dir() -> Path:
    path = Path(os.environ.get("LABKIT_E2E_OUT", ROOT / "build" / "e2e"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def lab():
    reason = browser_unavailable()
    if reason:
        pytest.skip(f"browser tests skipped: {reason}")
    with JupyterLab(extra={SELFTEST: selftest_notebook()}) as server:
        yield server


@pytest.fixture(scope="session")
def browser(lab):
    with chromium() as context:
        yield context


@pytest.fixture(scope="session")
def results(out_dir):
    yield RESULTS
    if RESULTS:
        (out_dir / "timings.json").write_text(json.dumps(RESULTS, indent=1))


def pytest_terminal_summary(terminalreporter):
    if not RESULTS:
        return
    terminalreporter.section("notebooks in JupyterLab (Chromium, LABKIT_QUICK=1)")
    for name, r in RESULTS.items():
        terminalreporter.write_line(
            f"{name:<45} run all cells {r.get('run_all_s', float('nan')):6.1f} s | "
            f"widgets {r.get('widget_outputs', '-')} · controls {r.get('controls', '-')} · "
            f"FigureWidgets {r.get('figure_widgets', '-')} · static figures {r.get('static_figures', '-')} | "
            f"panels changed {len(r.get('controls_moved', []))} · explorer clicks {len(r.get('clicks', []))}")
        for reason in sorted(set(r.get("tolerated", []))):
            terminalreporter.write_line(f"    TOLERATED log-console error ({r['tolerated'].count(reason)}×): {reason}")
