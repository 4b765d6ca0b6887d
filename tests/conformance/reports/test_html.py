"""The HTML report: self-contained, escaped, findings linked to frames; checked in a browser."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conformance.reports import html_report, write_html
from tests.conformance.checks.helpers import KEY

from .conftest import AUDIO


class Anchors(HTMLParser):
    """Collects element ids, link targets and every URL-bearing attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.urls: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"] or "")
        if tag == "a" and values.get("href"):
            self.links.append(values["href"] or "")
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "action") and v]


def parsed(results) -> Anchors:
    parser = Anchors()
    parser.feed(html_report(results))
    return parser


def test_the_report_is_self_contained(results):
    page = parsed(results)
    assert all(url.startswith("#") for url in page.urls)
    assert page.tags.count("script") == 1
    assert page.tags.count("style") == 1
    assert "default-src 'none'" in html_report(results)


def test_every_finding_links_to_an_existing_anchor(results):
    page = parsed(results)
    targets = [link[1:] for link in page.links]
    assert targets
    assert set(targets) <= page.ids
    assert "c2-n0-f2" in targets  # the close that was not surfaced
    assert "c2-output" in targets  # the key printed on stderr
    assert "c1-v0" in targets  # frame -> finding back link


def test_frames_are_escaped_and_long_strings_cut(results):
    text = html_report(results)
    assert "<script>alert(1)</script>" not in text
    assert "&lt;/td&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<img src=x" not in text
    assert AUDIO not in text
    assert "[20,000 chars]" in text
    assert KEY not in text
    assert "hostile &lt;b&gt;" in text


def test_write_html_creates_the_folder(results, tmp_path):
    path = write_html(results, tmp_path / "a" / "report.html")
    assert path.read_text().startswith("<!doctype html>")


# --- in a real browser ------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def browse(url: str, profile: Path, *extra: str) -> str:
    command = [
        CHROMIUM or "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *extra,
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_a_browser_renders_frames_findings_and_no_injected_markup(results, tmp_path):
    page = write_html(results, tmp_path / "report.html")
    dom = browse(page.as_uri(), tmp_path / "profile", "--dump-dom")
    assert "session.created" in dom
    assert "response.output_text.delta" in dom
    assert "surfaces_close_code_and_reason: close not surfaced" in dom
    assert "waits_for_session_updated" in dom
    assert "close 1001 'Your session hit the maximum duration of 2 seconds.'" in dom
    assert 'data-pwned="1"' not in dom
    assert not re.search(r"<img[^>]*onerror", dom)
    assert dom.count('class="finding') >= 5


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_following_a_finding_link_opens_the_frame_json(results, tmp_path):
    page = write_html(results, tmp_path / "report.html")
    dom = browse(page.as_uri() + "#c1-n0-f2", tmp_path / "profile", "--dump-dom")
    row = re.search(r'<tr id="c1-n0-f2"[^>]*>.*?</tr>', dom, re.S)
    assert row is not None
    assert "<details open" in row.group(0)
