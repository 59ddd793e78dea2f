"""The boot report's page as a person sees it: Debian's headless Chromium (tests/run installs it) draws
index.html from canned consoles; the screenshot must not be blank, and each step's name must be drawn in
its row of each boot's timeline.

How "drawn" is checked: Chromium's own DOM (--dump-dom) gives each timeline's rows (the step's name in an
SVG <text> inside the SVG's area, its bar's place and colour); the screenshot is then read (a small PNG
reader, zlib and struct: no Pillow here) at those places: each bar in its result's colour, and ink where
each name is written. OCR (Debian's tesseract-ocr) would read the names too, but took about ten seconds
on a two-core machine and misread 12-pixel names ("file-ete-motd") at the page's own scale.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bootstrap.boot_report import STATUSES, Boot, from_proof, write_report
from bootstrap.console import report
from bootstrap.localvm.proof import proof_json
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile

from . import boot_reports
from .guest_sim import console_lines

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package (tests/run installs it: "
                                "apt-get install chromium)")  # fmt: skip
WIDTH, HEIGHT = 1280, 1400
BACKGROUND, WHITE = (0xFA, 0xFA, 0xFA), (255, 255, 255)  # each timeline's own background; the page's


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--no-first-run", f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", *args],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


class Png:
    """An 8-bit RGB or RGBA PNG, not interlaced (what Chromium writes), its rows as bytes."""

    def __init__(self, rows: list[bytes], width: int, bpp: int) -> None:
        self.rows, self.width, self.bpp = rows, width, bpp

    def __call__(self, x: int, y: int) -> tuple[int, ...]:
        return tuple(self.rows[y][x * self.bpp : x * self.bpp + 3])

    def has(self, rgb: tuple[int, ...]) -> bool:
        return any(bytes(rgb) in row for row in self.rows)


def read_png(path: Path) -> Png:
    data, pos, chunks = path.read_bytes(), 8, []
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            chunks.append(body)
    raw, stride = zlib.decompress(b"".join(chunks)), width * bpp
    rows, prev = [], bytes(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]
        if kind == 0 or (kind == 2 and not any(line)):
            row = line if kind == 0 else prev
        elif kind == 2:
            row = bytes((a + b) & 255 for a, b in zip(line, prev, strict=True))
        else:  # Sub, Average, Paeth: byte by byte
            out = bytearray(line)
            for i in range(stride):
                left, up, corner = (out[i - bpp] if i >= bpp else 0), prev[i], (prev[i - bpp] if i >= bpp else 0)
                if kind == 1:
                    guess = left
                elif kind == 3:
                    guess = (left + up) >> 1
                else:
                    p = left + up - corner
                    near = min(abs(p - left), abs(p - up), abs(p - corner))
                    guess = left if abs(p - left) == near else up if abs(p - up) == near else corner
                out[i] = (out[i] + guess) & 255
            row = bytes(out)
        rows.append(row)
        prev = row
    return Png(rows, width, bpp)


class Timelines(HTMLParser):
    """Each <svg class="timeline">: its size and its rows (name with its place, the bar's place and fill)."""

    def __init__(self) -> None:
        super().__init__()
        self.svgs: list[dict] = []
        self._name: dict | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        got = dict(attrs)
        if tag == "svg" and got.get("class") == "timeline":
            self.svgs.append({"width": float(got["width"] or 0), "height": float(got["height"] or 0), "rows": []})
        elif tag == "g" and got.get("class") == "step":
            self.svgs[-1]["rows"].append({"status": got["data-status"], "name": ""})
        elif tag == "text" and got.get("class") == "step-name":
            self._name = self.svgs[-1]["rows"][-1]
            self._name.update(x=float(got["x"] or 0), y=float(got["y"] or 0))
        elif tag == "rect" and self.svgs and self.svgs[-1]["rows"] and "bar" not in self.svgs[-1]["rows"][-1]:
            self.svgs[-1]["rows"][-1]["bar"] = {k: got[k] for k in ("x", "y", "width", "fill")}

    def handle_endtag(self, tag: str) -> None:
        if tag == "text":
            self._name = None

    def handle_data(self, data: str) -> None:
        if self._name is not None:
            self._name["name"] += data


def corners(png: Png, height: int) -> list[tuple[int, int]]:
    """The top-left corner of each timeline's background (white page above and left of it, its left
    edge background all the way down: no text starts there), top to bottom."""
    found, run = [], bytes(BACKGROUND) * 30
    for y in range(1, len(png.rows) - height):
        start = png.rows[y].find(run)
        while start >= 0:
            x = start // png.bpp
            if start % png.bpp == 0 and png(x - 1, y) == WHITE and png(x, y - 1) == WHITE and \
               all(png(x, y + k) == BACKGROUND for k in range(height)):  # fmt: skip
                found.append((x, y))
            start = png.rows[y].find(run, start + len(run))
    return found


def colour(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def test_the_page_draws_every_boot_and_names_every_step(tmp_path: Path) -> None:
    plan = build_plan(load_profile("base"))
    proof = boot_reports.proof(plan, fail_at=plan.ordered[-1].id)
    run = from_proof(proof, proof_json(proof))
    golden = report(console_lines(plan, "test"))  # an instance of a baked image: image steps say baked
    assert golden is not None
    run.boots.append(Boot("golden image test boot", golden, "i-3"))
    page = write_report(run, tmp_path / "report") / "index.html"
    shot = tmp_path / "shot.png"
    dom = chromium(f"--screenshot={shot}", "--dump-dom", page.as_uri(), profile=tmp_path / "chromium")  # one start
    assert dom.returncode == 0 and shot.is_file() and "<svg" in dom.stdout, dom.stderr[-2000:]

    png = read_png(shot)
    assert (png.width, len(png.rows)) == (WIDTH, HEIGHT)
    inked = sum(len(row) - row.count(255) for row in png.rows)
    assert inked > len(png.rows) * len(png.rows[0]) // 100, "the screenshot is blank"
    assert all(png.has(colour(c)) for c, _ in STATUSES.values()), "ok, failed and baked are each drawn"

    timelines = Timelines()
    timelines.feed(dom.stdout)
    assert len(timelines.svgs) == len(run.boots) == 4
    places = corners(png, int(min(svg["height"] for svg in timelines.svgs)))
    assert len(places) == len(timelines.svgs), places  # every timeline fits the window
    for svg, (left, top), boot in zip(timelines.svgs, places, run.boots, strict=True):
        assert [r["name"] for r in svg["rows"]] == [s.id for s in plan.ordered]  # every step, in order
        assert [r["status"] for r in svg["rows"]] == [s["status"] for s in boot.report.steps]
        for row in svg["rows"]:
            assert 0 <= row["x"] < svg["width"] and 0 < row["y"] <= svg["height"], row  # inside the drawn area
            bar = row["bar"]
            middle = (left + int(float(bar["x"]) + float(bar["width"]) / 2), top + int(float(bar["y"])) + 7)
            assert png(*middle) == colour(bar["fill"]), (row["name"], middle)
            x0, y0 = left + int(row["x"]), top + int(row["y"]) - 11  # the name's box: baseline y, 12px type
            ink = [1 for y in range(y0, y0 + 14) for x in range(x0, x0 + int(7 * len(row["name"])))
                   if sum(png(x, y)) < 3 * 128]  # fmt: skip
            assert len(ink) > 3 * len(row["name"]), f"step {row['name']}: no text drawn where its name is"
