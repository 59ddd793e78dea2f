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
from .limits import EC2_USER_DATA, GCE_METADATA_VALUE, OPENSTACK_USER_DATA


@dataclass(frozen=True)
class Target:
    """Everything the rest of bootstrap knows about a target. Adding one: a record here and its
    renderer in this package; checks, sizes, diff, the CLI and the golden tests read the record."""

    name: str
    carries: str  # "cloud-config": multipart MIME with write_files; "script": heredocs in one bash script
    files_of: str  # the target whose machine files it carries (ec2 carries cloud-init's bytes)
    limit: int  # bytes the cloud counts against its limit (0: no cloud carries it)
    limit_name: str
    over_limit: str  # how bad it is to be over: error where the cloud refuses, warning where only some do
    gzip: str  # "no", "on request", "when over the limit"
    bake_checked: bool  # image builders boot its bake variant: check that too
    in_diff: bool  # a distinct output for `diff` (ec2 is cloud-init's bytes, gzipped when large)
    suffix: str  # of its golden files


TARGET_RECORDS = {
    t.name: t
    for t in (
        Target("cloud-init", "cloud-config", "cloud-init", OPENSTACK_USER_DATA, "OpenStack user data", "warning",
               "on request", True, True, "mime"),
        Target("ec2", "cloud-config", "cloud-init", EC2_USER_DATA, "EC2 user data (raw, gzip applied when over)",
               "error", "when over the limit", False, False, "mime.gz"),
        Target("gce", "script", "gce", GCE_METADATA_VALUE, "GCE metadata value", "error", "no", True, True, "sh"),
        Target("bash", "script", "bash", 0, "none", "info", "no", False, True, "sh"),
    )
}  # fmt: skip
TARGETS = tuple(TARGET_RECORDS)
# What `bootstrap test` and `bake -b local` hand a guest (localvm/clients.py): every target, and GCE's
# user-data variant (cloud-init user data in GCE metadata, `bake -b gce --gce-user-data`).
TEST_TARGETS = (*TARGETS[:3], "gce-user-data", *TARGETS[3:])


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
