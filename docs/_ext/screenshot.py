"""Screenshot pages of a built course site in headless Chromium (the e2e tests' harness).

    python docs/_ext/screenshot.py SITE_DIR OUT_DIR [PAGE ...] [--full] [--width 1400 --height 900]

Serves SITE_DIR on 127.0.0.1 and writes OUT_DIR/<page with / as _>.png for each PAGE (default:
index.html). docs/img/site.png, the README's picture of the site, is
``python docs/_ext/screenshot.py build/site docs/img index.html`` renamed.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.e2e.lab import chromium, free_port  # noqa: E402


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("pages", nargs="*", default=["index.html"])
    parser.add_argument("--full", action="store_true", help="the whole page, not the first screen")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args(argv)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()),
                                             functools.partial(_Quiet, directory=str(args.site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with chromium(viewport=(args.width, args.height)) as context:
            page = context.new_page()
            for name in args.pages:
                page.goto(f"http://127.0.0.1:{server.server_address[1]}/{name}", wait_until="load")
                time.sleep(1.5)  # figures and maths draw after load
                target = args.out / (name.replace("/", "_").replace(".html", "") + ".png")
                page.screenshot(path=str(target), full_page=args.full)
                print(target)
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
