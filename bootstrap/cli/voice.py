"""What the command line says on stderr, through one place, at one level for the whole run: errors
always; progress, notes and hints unless -q; the why of decisions with -v. Colour (red errors, yellow
warnings, green ok) only where terminal.wants_color says so. A command's results on stdout (rendered
bytes, --json, its tables) are its own and print at every level."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from ..terminal import GREEN, RED, YELLOW, Escaping, paint, printable, wants_color

QUIET, NORMAL, VERBOSE = 0, 1, 2


@dataclass(frozen=True)
class Voice:
    level: int = NORMAL
    color: str = "auto"  # --color

    @property
    def quiet(self) -> bool:
        return self.level == QUIET

    def write(self, text: str, color: str = "", stream: Any = None) -> None:
        """One line, escaped as every human line is; painted on the raw stream (Escaping would show the
        colour's escape as text)."""
        stream = stream or sys.stderr
        raw = stream.stream if isinstance(stream, Escaping) else stream
        line = printable(text)
        if color and wants_color(raw, self.color):  # the first line: an error's hints stay plain
            first, newline, rest = line.partition("\n")
            line = paint(first, color) + newline + rest
        print(line, file=raw, flush=True)


_voice = Voice()


def current() -> Voice:
    return _voice


def use(voice: Voice) -> Voice:
    """The run's voice (main sets it from -q, -v and --color, and puts back the one it replaced, for an
    in-process caller such as a test)."""
    global _voice
    saved, _voice = _voice, voice
    return saved


def error(text: str) -> None:
    _voice.write(text, RED)


def warning(text: str) -> None:
    if not _voice.quiet:
        _voice.write(text, YELLOW)


def progress(text: str) -> None:
    """Progress, notes and hints: what a person follows, not what went wrong."""
    if not _voice.quiet:
        _voice.write(text)


def why(text: str) -> None:
    """The reason behind a decision, said with -v only."""
    if _voice.level >= VERBOSE:
        _voice.write(text)


def result(text: str, ok: bool | None = None) -> None:
    """A result line on stdout (every level): green where ok, red where not, plain where None."""
    _voice.write(text, "" if ok is None else GREEN if ok else RED, sys.stdout)
