"""Attacks on the boot report's page (index.html, bootstrap/boot_report.py): a guest's console is the
guest's to write, and any step's output can print a line that reads as a step line, with markup for a
name. What the guest or a profile wrote must show as text, never become markup in the operator's
browser. SECURITY.md, "The operator's terminal" (and the boot report)."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from bootstrap.boot_report import from_proof, write_report
from bootstrap.localvm.proof import proof_json

from .. import boot_reports
from ..test_boot_report_browser import CHROMIUM, chromium

# Step names as a console line can forge them (no spaces: the step line's own pattern), each a way out
# of the SVG <text>, the <title>, an attribute, or into a template.
HOSTILE_NAMES = ("</text><script>alert(1)</script>", "<img/src=x/onerror=alert(2)>",
                 '"/><svg/onload=alert(3)>', "</title></g></svg><iframe/src=//evil.example>",
                 "{{7*7}}{%raw%}", "&amp;&lt;")  # fmt: skip
HOSTILE_CONSOLE = ("</pre></details><script>alert(5)</script>\n<!--\n]]><a href=javascript:alert(6)>x</a>\n"
                   "<style>body{display:none}</style>\n")  # fmt: skip
HOSTILE_CLIENT = 'DataSourceNoCloud [<b onmouseover="alert(7)">seed</b>]'
DRAWN = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "span", "table", "tr", "th", "td", "code",
         "a", "p", "ul", "li", "pre", "section", "svg", "rect", "line", "g", "text", "details", "summary"}  # fmt: skip


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []
        self.styles = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        self.styles += tag == "style"

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def hostile_page(folder: Path) -> Path:
    rows = [(name, "first_boot", "instance") for name in HOSTILE_NAMES]
    proof = boot_reports.proof(rows, fail_at=HOSTILE_NAMES[0], extra=HOSTILE_CONSOLE, client=HOSTILE_CLIENT)
    assert [s["id"] for s in proof.boots[0].steps] == list(HOSTILE_NAMES)  # the console protocol took them
    return write_report(from_proof(proof, proof_json(proof)), folder) / "index.html"


def test_hostile_step_names_and_console_lines_show_as_text_never_as_markup(tmp_path: Path) -> None:
    page = Page()
    page.feed(hostile_page(tmp_path / "report").read_text())
    tags = [tag for tag, _ in page.tags]
    assert set(tags) <= DRAWN, set(tags) - DRAWN  # no script, img, iframe, a second svg, ...
    assert page.styles == 1  # the page's own stylesheet, not the console's
    handlers = [(tag, name) for tag, attrs in page.tags for name, _ in attrs if name.lower().startswith("on")]
    assert not handlers, handlers
    links = [value for tag, attrs in page.tags if tag == "a" for name, value in attrs if name == "href"]
    assert all(value and not value.lower().startswith("javascript") for value in links), links
    text = "".join(page.text)
    for name in HOSTILE_NAMES:  # shown, as written ({{7*7}} too: a value is data, never a template)
        assert name in text, name
    assert "alert(5)" in text and HOSTILE_CLIENT in text


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package (tests/run installs it)")
def test_the_browser_builds_no_element_from_them_either(tmp_path: Path) -> None:
    """The same page as Chromium parses it (its DOM, serialized): a parser's quirk is the browser's, not ours."""
    dom = chromium("--dump-dom", hostile_page(tmp_path / "report").as_uri(), profile=tmp_path / "chromium")
    assert dom.returncode == 0 and "<svg" in dom.stdout, dom.stderr[-2000:]
    page = Page()
    page.feed(dom.stdout)
    tags = {tag for tag, _ in page.tags}
    assert tags <= DRAWN | {"tbody"}, tags - DRAWN - {"tbody"}  # the browser adds tbody to a table
    assert not [name for _, attrs in page.tags for name, _ in attrs if name.lower().startswith("on")]
    assert all(name in "".join(page.text) for name in HOSTILE_NAMES)
