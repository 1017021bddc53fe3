"""Read a run report page the way a browser would: its embedded numbers, and every resource it would fetch."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[str] = []
        self.data_json: str | None = None
        self._in_data = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.fetched += [value for name, value in attrs if name in ("src", "href", "srcset", "data") and value]
        if tag == "link":
            self.fetched.append(attributes.get("href") or "<link without href>")
        self._in_data = tag == "script" and attributes.get("id") == "report-data"

    def handle_data(self, data: str) -> None:
        if self._in_data:
            self.data_json = (self.data_json or "") + data

    def handle_endtag(self, tag: str) -> None:
        self._in_data = False


def read_page(path: Path) -> tuple[dict[str, Any], list[str]]:
    """The report-data JSON block and every src/href (and <link>) in the page's tags."""
    page = _Page()
    page.feed(Path(path).read_text(encoding="utf-8"))
    assert page.data_json is not None, f"{path} has no <script id=report-data> block"
    return json.loads(page.data_json), page.fetched


def remote(fetched: list[str]) -> list[str]:
    """The fetched resources that are not in the page itself (anything but #fragments and data: URIs)."""
    return [url for url in fetched if not url.startswith(("#", "data:"))]
