"""Targets turn a Plan into the bytes a cloud (or a person) runs.

``cloud-init``: multipart user data for any cloud-init cloud; ``ec2``: the same held to EC2's
16,384-byte limit (gzip when over); ``gce``: a ``startup-script`` metadata value; ``bash``: one
self-contained script. Every target installs the same files and runs the same runner, so a
profile reaches the same machine state through each.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field

from ..plan import Plan

TARGETS = ("cloud-init", "ec2", "gce", "bash")


@dataclass
class Artifact:
    target: str
    data: bytes
    gzipped: bool = False
    bake: bool | str = False  # the builder variant
    notes: list[str] = field(default_factory=list)

    @property
    def is_text(self) -> bool:
        return not self.gzipped

    def base64(self) -> bytes:
        return base64.b64encode(self.data)


def render(plan: Plan, target: str, *, gzip: bool = False, bake: bool | str = False) -> Artifact:
    """The target's bytes. ``bake``: the builder variant (image-scope steps, then seal and power off);
    ``bake="external"``: image-scope steps only, for image builders that seal and stop it themselves."""
    artifact = _renderers()[target](plan, gzip, bake)
    artifact.bake = bake
    return artifact


def _renderers() -> dict[str, Callable[[Plan, bool, bool | str], Artifact]]:
    from . import cloudinit, script

    return {
        "cloud-init": cloudinit.render_cloudinit,
        "ec2": cloudinit.render_ec2,
        "gce": script.render_gce,
        "bash": script.render_bash,
    }
