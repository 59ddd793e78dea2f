"""The plan: a profile turned into ordered steps, each with a phase, a scope and a hash.

This is the one place that defines phases and scopes; every target maps them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .distro import DEFAULT as DEFAULT_DISTRO
from .errors import Mark


class Phase(str, Enum):
    """How often a step runs. Either kind runs at its place in the plan's one order (see
    bootstrap/ordering.py): an every-boot step that first-boot steps need (the host name, mounts,
    secrets) runs before them on the first boot too."""

    FIRST_BOOT = "first_boot"  # once per instance; retried at the next boot until it succeeds
    EVERY_BOOT = "every_boot"  # on every boot, the first included


class Scope(str, Enum):
    IMAGE = "image"  # may be baked into an image: skipped on instances launched from it
    INSTANCE = "instance"  # belongs to one machine: always runs on each instance


STEP_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,79}")


@dataclass(frozen=True)
class Step:
    """One unit of work on the machine: a bash body run by the runner under ``set -euo pipefail``."""

    id: str
    phase: Phase
    scope: Scope
    feature: str
    script: str  # the body, already rendered and quoted; the runner adds the common header
    description: str = ""
    cost: str = "fast"  # rough class for humans: fast, network, heavy
    origin: Mark | None = field(default=None, compare=False)  # where in the profile it came from
    # Order the profile stated: feature keys or step ids this step runs before / after.
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    order_marks: dict[str, Mark] = field(default_factory=dict, compare=False)  # "before NAME" -> where it said so

    def __post_init__(self) -> None:
        if not STEP_ID.fullmatch(self.id):
            raise ValueError(f"invalid step id {self.id!r}")  # a bug in a feature, not user input

    @property
    def hash(self) -> str:
        digest = hashlib.sha256()
        for part in (self.id, self.phase.value, self.scope.value, self.script):
            digest.update(part.encode())
            digest.update(b"\0")
        return digest.hexdigest()[:16]


@dataclass
class Plan:
    """Steps of one profile, in the order they run (on every boot; first-boot steps once done are skipped)."""

    profile: str
    steps: list[Step] = field(default_factory=list)
    distro: str = DEFAULT_DISTRO  # the profile's distro: its package manager's step library goes with the steps
    # Keys for the #cloud-config part, where cloud-init's own modules do the job well.
    cloud_config: dict[str, Any] = field(default_factory=dict)

    def phase(self, phase: Phase) -> list[Step]:
        return [s for s in self.steps if s.phase == phase]

    @property
    def ordered(self) -> list[Step]:
        """The steps in the order the runner takes them."""
        return list(self.steps)

    @property
    def hash(self) -> str:
        """Content hash of the whole plan."""
        return _combine(s.hash for s in self.ordered)

    @property
    def image_hash(self) -> str:
        """Content hash of what a baked image holds: the image-scope first-boot steps."""
        return _combine(s.hash for s in self.phase(Phase.FIRST_BOOT) if s.scope == Scope.IMAGE)


def _combine(hashes: object) -> str:
    digest = hashlib.sha256()
    for h in hashes:  # type: ignore[attr-defined]
        digest.update(str(h).encode())
    return digest.hexdigest()[:16]
