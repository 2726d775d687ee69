"""Screenshots of each notebook's key interactive panel for the README gallery.

    python -m tests.e2e.screenshots                 # every notebooks/NN_*.ipynb -> docs/img/NN_*.png
    python -m tests.e2e.screenshots 00_tour.ipynb   # only some

Runs each notebook in JupyterLab in Chromium exactly as the browser tests do (quick mode), clicks
a point in the embedding explorer when there is one (so its neighbours show), and saves the key
panel as a small PNG (white border trimmed, at most ``--width`` pixels wide, 256 colours). The key panel is the
explorer, else the panel named in ``KEY_PANEL``, else the first interactive panel (a displayed
widget holding a slider and a figure).
"""
from __future__ import annotations

import argparse
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from .lab import NOTEBOOKS, ROOT, JupyterLab, NotebookPage, browser_unavailable, chromium

OUT = ROOT / "docs" / "img"
# notebook number -> index of the key panel among the notebook's interactive panels, where the
# first one is not the one that shows the story best.
KEY_PANEL: dict[str, int] = {}


def shrink(path: Path, width: int, margin: int = 8) -> None:
    """Trim the white border of a PNG, scale it down to ``width`` pixels and store it with a
    256-colour palette."""
    from PIL import Image, ImageChops

    image = Image.open(path).convert("RGB")
    box = ImageChops.difference(image, Image.new("RGB", image.size, "white")).getbbox()
    if box:
        image = image.crop((max(box[0] - margin, 0), max(box[1] - margin, 0),
                            min(box[2] + margin, image.width), min(box[3] + margin, image.height)))
    if image.width > width:
        image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)


def key_panel(nb: NotebookPage):
    explorers = nb.explorer_panels()
    if explorers:
        nb.click_point(explorers[0], index=0)
        return explorers[0]
    panels = nb.panels()
    if not panels:
        return None
    return panels[min(KEY_PANEL.get(nb.name[:2], 0), len(panels) - 1)]


@contextmanager
def tall_enough(page, panel, margin: int = 160):
    """Grow the window so the whole panel fits on screen (JupyterLab scrolls the notebook inside the
    window, so an element screenshot of a panel taller than the window was cut off at the status bar
    and padded with grey); the window's size is restored afterwards."""
    size = page.viewport_size
    box = panel.bounding_box()
    height = int(box["height"]) + margin + page.evaluate("""() => {
        const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer')
                || document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
        return window.innerHeight - nb.clientHeight; }""")
    try:
        if height > size["height"]:
            page.set_viewport_size({"width": size["width"], "height": height})
            time.sleep(1.5)  # plotly relayouts on resize
        yield
    finally:
        page.set_viewport_size(size)


def shoot(context, lab: JupyterLab, name: str, out: Path, width: int) -> tuple[Path | None, float]:
    nb = NotebookPage(context, lab, name)
    try:
        nb.open()
        seconds = nb.run_all().seconds
        panel = key_panel(nb)
        if panel is None:
            return None, seconds
        path = out / f"{name.removesuffix('.ipynb')}.png"
        with tall_enough(nb.page, panel):
            panel.scroll_into_view_if_needed()
            nb.page.mouse.move(1, 1)  # no hover label over the picture
            time.sleep(1.0)
            panel.screenshot(path=str(path))
        shrink(path, width)
        return path, seconds
    finally:
        nb.close()
        lab.shutdown_kernels()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebook file names (default: every notebooks/NN_*.ipynb)")
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the PNGs (default: docs/img)")
    parser.add_argument("--width", type=int, default=1000, help="largest width of a PNG in pixels")
    args = parser.parse_args(argv)
    reason = browser_unavailable()
    if reason:
        print(f"cannot take screenshots: {reason}", file=sys.stderr)
        return 2
    names = args.notebooks or sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    args.out.mkdir(parents=True, exist_ok=True)
    missing = []
    with JupyterLab() as lab, chromium() as context:
        for name in names:
            path, seconds = shoot(context, lab, name, args.out, args.width)
            if path is None:
                missing.append(name)
                print(f"{name}: no interactive panel to show (ran in {seconds:.1f} s)")
            else:
                print(f"{name}: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} "
                      f"({path.stat().st_size // 1024} KiB; Run All took {seconds:.1f} s)")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
