"""Human-facing output shows profile text, and profile text is untrusted: an escape sequence in a
description or command (``\\x1b[2K`` erases a line, ``\\x1b]8;;`` makes links) must not act on the
reader's terminal, nor a bidirectional override reorder what a reviewer reads. Everything but
newlines and tabs that is a control or formatting character is shown escaped (``\\x1b``)."""

from __future__ import annotations

import re
from typing import Any, TextIO

# C0 and C1 controls (not \t, \n), DEL, and the invisible/bidirectional formatting characters.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    return _UNSAFE.sub(_escape, text)


class Escaping:
    """A text stream that writes ``printable`` text to another; binary writes pass through ``buffer``."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(printable(text))

    def __getattr__(self, name: str) -> Any:  # flush, buffer, isatty, fileno...
        return getattr(self.stream, name)
