"""The console protocol: what a guest tells us over its console, the runner's step lines and its
result lines. One module below both ``localvm`` (local boots) and ``bake`` (every backend).

The runner prints ``BOOTSTRAP-RESULT <result> <failed-step or ->`` to /dev/console when a boot's
phases end (``ok``, ``failed``, ``rebooting``); a bake's seal prints ``sealed`` before power-off, and
before that ``BOOTSTRAP-MANIFEST <sha256> <packages> <entries>`` (or ``failed - -``): the image's
manifest (templates/runner/manifest.sh.j2), which the backend may then read from the disk.
Every backend reads the same lines: QEMU's serial log, EC2's console output, GCE's serial port.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

RESULT = re.compile(r"BOOTSTRAP-RESULT (\S+) (\S+)")
STEP_LINE = re.compile(
    r"bootstrap: step (\S+) \((\w+), (\w+)\): "
    r"(?:ok in (\d+)ms|FAILED with exit (\d+) after (\d+)ms|(baked) into this image)"
)


MANIFEST = re.compile(r"BOOTSTRAP-MANIFEST (?:([0-9a-f]{64}) (\d+) (\d+)|failed - -)")


@dataclass(frozen=True)
class ManifestLine:
    """What the seal said of the image's manifest: its hash and sizes, or that it failed (sha256 None)."""

    sha256: str | None
    packages: int = 0
    entries: int = 0


def manifest_line(console: str) -> ManifestLine | None:
    """The seal's last manifest line, or None where it printed none (a seal of an older bootstrap)."""
    found = list(MANIFEST.finditer(console))
    if not found:
        return None
    digest, packages, entries = found[-1].groups()
    return ManifestLine(digest, int(packages), int(entries)) if digest else ManifestLine(None)


PANIC = re.compile(r"Kernel panic - not syncing[^\n]*")


def panic(console: str, context: int = 12) -> str | None:
    """The kernel's panic and the lines before it (what it was doing), or None while there is none."""
    found = PANIC.search(console)
    if found is None:
        return None
    before = console[: found.start()].splitlines()[-context:]
    return "\n".join([*before, found.group().strip()])


@dataclass
class GuestReport:
    result: str  # ok, failed, rebooting, sealed, timeout, stopped (powered off with no result line)
    failed_step: str | None
    steps: list[dict] = field(default_factory=list)
    console: str = ""
    seconds: float = 0.0  # how long the boot took to report, where the reader measured it

    def tail(self, lines: int = 20) -> str:
        """The console's last lines, for an error that ends "last console lines:" (said so when there are none)."""
        return "\n".join(self.console.splitlines()[-lines:]) or "(none: the console is empty)"


def results(console: str) -> list[tuple[str, str | None]]:
    return [(m.group(1), None if m.group(2) == "-" else m.group(2)) for m in RESULT.finditer(console)]


def steps(console: str) -> list[dict]:
    found = []
    for match in STEP_LINE.finditer(console):
        step_id, phase, scope, ok_ms, code, failed_ms, baked = match.groups()
        if baked:
            status, exit_code, duration = "baked", 0, 0
        elif ok_ms is not None:
            status, exit_code, duration = "ok", 0, int(ok_ms)
        else:
            status, exit_code, duration = "failed", int(code), int(failed_ms)
        found.append({"id": step_id, "phase": phase, "scope": scope, "status": status, "exit_code": exit_code,
                      "duration_ms": duration})  # fmt: skip
    return found


def report(console: str, wanted: tuple[str, ...] = ("ok", "failed", "rebooting")) -> GuestReport | None:
    """The first result line among ``wanted`` (a failure always counts), or None while there is none."""
    for result, failed in results(console):
        if result in wanted or result == "failed":
            return GuestReport(result, failed, steps(console), console)
    return None
