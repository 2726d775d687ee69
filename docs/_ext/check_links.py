"""Check every internal link of a built site: ``python docs/_ext/check_links.py SITE_DIR``.

For each HTML page: every ``<a href>``, ``<img src>``, ``<script src>`` and ``<link href>`` that
points inside the site must name an existing file, and a ``#fragment`` on a page of the site must
name an element of that page (an ``id``, or an ``<a name>``). Links to other hosts are not
followed (the site is checked offline); they are counted. Exits 1 and lists the broken links when
there is any.
"""
from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ATTRS = {"a": "href", "img": "src", "script": "src", "link": "href", "iframe": "src", "source": "src"}


class Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id",) + (("name",) if tag == "a" else ()):
            if attrs.get(key):
                self.ids.add(attrs[key])
        want = ATTRS.get(tag)
        if want and attrs.get(want) is not None:
            self.links.append((tag, attrs[want]))


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8", errors="replace"))
    return page


def site_pages(site: Path) -> list[Path]:
    """The site's HTML pages (not the theme's template fragments under _static/)."""
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.relative_to(site).parts)


def check(site: Path) -> tuple[list[str], int, int]:
    """Returns (broken links, internal links checked, external links seen)."""
    site = site.resolve()
    pages = {p.resolve(): parse(p) for p in site_pages(site)}
    broken, internal, external = [], 0, 0
    for path, page in sorted(pages.items()):
        for tag, link in page.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:", "data:")):
                external += 1
                continue
            if not parts.path and not parts.fragment:
                continue
            internal += 1
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            where = f"{path.relative_to(site)}: <{tag}> {link}"
            if target.is_dir():
                target = target / "index.html"
            if site not in target.parents and target != site:
                broken.append(f"{where} (outside the site)")
            elif not target.is_file():
                broken.append(f"{where} (no file {target.relative_to(site)})")
            elif parts.fragment and target.suffix == ".html" and tag == "a":
                ids = pages[target].ids if target in pages else parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{where} (no element #{parts.fragment})")
    return broken, internal, external


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    site = Path(argv[0])
    if not (site / "index.html").is_file():
        print(f"{site}: no index.html (build the site first)", file=sys.stderr)
        return 2
    broken, internal, external = check(site)
    pages = len(site_pages(site))
    if broken:
        print(f"{len(broken)} broken internal links:\n  " + "\n  ".join(broken), file=sys.stderr)
        return 1
    print(f"links: {internal} internal links on {pages} pages all resolve ({external} links to other hosts not followed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
