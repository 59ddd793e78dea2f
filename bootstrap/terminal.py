"""Human-facing output shows profile text, and profile text is untrusted: an escape sequence in a
description or command (``\\x1b[2K`` erases a line, ``\\x1b]8;;`` makes links) must not act on the
reader's terminal, nor a bidirectional override reorder what a reviewer reads. Everything but
newlines and tabs that is a control, a formatting character (Unicode's whole Cf category), a bidi
control, a line separator, a surrogate, private or unassigned is shown escaped (``\\x1b``)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any, TextIO

# Every character that is not printable ASCII (nor \t, \n) is looked at; most text never gets here.
_SUSPECT = re.compile("[^\t\n\x20-\x7e]")
# Controls, formatting (the whole Cf category: zero-width, bidi marks, tags), line and paragraph
# separators, surrogates, private use and unassigned code points: none may act on or hide from a reader.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
# Bidirectional embeddings, overrides and isolates, whatever category a future Unicode gives them.
_BIDI_CONTROLS = frozenset({"LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"})


def unsafe(char: str) -> bool:
    return unicodedata.category(char) in _UNSAFE_CATEGORIES or unicodedata.bidirectional(char) in _BIDI_CONTROLS


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
