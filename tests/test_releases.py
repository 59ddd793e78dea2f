"""Releases a team can pin (issue 23): every `rev:` and `@vX.Y.Z` of bootstrap that README, the hooks
file and the examples show is the version this checkout is, and a version that is tagged."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from bootstrap import __version__

REPO = Path(__file__).resolve().parent.parent
PIN = re.compile(r"(?:rev:\s*|bootstrap@)(v\d+\.\d+\.\d+)")
SHOWN = [REPO / "README.md", REPO / ".pre-commit-hooks.yaml", *sorted((REPO / "examples").rglob("*.y*ml")),
         *sorted((REPO / "examples").rglob("*.md")), *sorted((REPO / "docs").glob("*.md"))]  # fmt: skip


def test_every_pin_shown_is_this_version() -> None:
    pins = {(path.relative_to(REPO).as_posix(), pin) for path in SHOWN for pin in PIN.findall(path.read_text())}
    assert pins, "README and the examples show how to pin bootstrap"
    assert {pin for _, pin in pins} == {f"v{__version__}"}, sorted(pins)


def test_the_version_is_tagged_when_the_checkout_has_tags() -> None:
    """A clone without tags (a shallow CI checkout) cannot tell; one with tags must have this one, or
    be the next version, not yet released."""
    tags = subprocess.run(["git", "tag", "--list", "v*"], cwd=REPO, capture_output=True, text=True).stdout.split()
    if not tags:
        return
    released = sorted(tuple(int(x) for x in tag[1:].split(".")) for tag in tags if re.fullmatch(r"v\d+\.\d+\.\d+", tag))
    current = tuple(int(x) for x in __version__.split("."))
    assert f"v{__version__}" in tags or current > released[-1], (tags, __version__)
