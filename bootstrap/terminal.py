"""Human-facing output shows profile text, and profile text is untrusted: an escape sequence in a
description or command (``\\x1b[2K`` erases a line, ``\\x1b]8;;`` makes links) must not act on the
reader's terminal, nor a bidirectional override reorder what a reviewer reads. Everything but
newlines and tabs that is a control, a formatting character (Unicode's whole Cf category), a bidi
control, a line separator, a surrogate, private or unassigned is shown escaped (``\\x1b``)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any, TextIO

# Every character that is not printable ASCII (nor \t, \n) is looked at; most text never gets here.
_SUSPECT = re.compile("[^\t\n\x20-\x7e]")
# Controls, formatting (the whole Cf category: zero-width, bidi marks, tags), line and paragraph
# separators, surrogates, private use and unassigned code points: none may act on or hide from a reader.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
# Bidirectional embeddings, overrides and isolates, whatever category a future Unicode gives them.
_BIDI_CONTROLS = frozenset({"LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"})


# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt) outside those categories, and blanks
# that render as nothing (Hangul fillers, the braille blank): invisible, so two names could differ unseen.
_INVISIBLE = ((0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x2800, 0x2800),
              (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
              (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF))  # fmt: skip


def unsafe(char: str) -> bool:
    code = ord(char)
    return (unicodedata.category(char) in _UNSAFE_CATEGORIES or unicodedata.bidirectional(char) in _BIDI_CONTROLS
            or any(low <= code <= high for low, high in _INVISIBLE))  # fmt: skip


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if not unsafe(char):
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str) -> str:
    return _SUSPECT.sub(_escape, text)


class Escaping:
    """A text stream that writes ``printable`` text to another; binary writes pass through ``buffer``."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(printable(text))

    def __getattr__(self, name: str) -> Any:  # flush, buffer, isatty, fileno...
        return getattr(self.stream, name)


# Colour: red errors, yellow warnings, green ok, on a terminal only (no-color.org; FORCE_COLOR as npm's tools).
RED, YELLOW, GREEN = "31", "33", "32"
COLOR_CHOICES = ("auto", "always", "never")


def wants_color(stream: Any, choice: str = "auto", env: Any = None) -> bool:
    """Whether ``stream`` gets colour: --color=always/never decide; auto: NO_COLOR (any non-empty value)
    disables, FORCE_COLOR enables, else a terminal that is not dumb."""
    import os

    env = os.environ if env is None else env
    if choice != "auto":
        return choice == "always"
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and env.get("TERM") != "dumb"


def paint(text: str, color: str) -> str:
    """``text`` (already printable) between an SGR colour and a reset."""
    return f"\x1b[{color}m{text}\x1b[0m"


def columns(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows (the first: the headers) as aligned columns two spaces apart; the last column is not padded,
    so a long value there (a description, a list of channels) never widens the table."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]).rstrip()
            for row in rows]  # fmt: skip
