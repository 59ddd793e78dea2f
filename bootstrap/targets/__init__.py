"""Targets turn a Plan into the bytes a cloud (or a person) runs: one module per target, found here.

``cloud-init``: multipart user data for any cloud-init cloud; ``ec2``: the same held to EC2's
16,384-byte limit (gzip when over); ``gce``: a ``startup-script`` metadata value; ``bash``: one
self-contained script. Every target installs the same files and runs the same runner, so a
profile reaches the same machine state through each.

A target module ``targets/<name>.py`` defines ``TARGET``, its record (``_record.Target``): how its
bytes carry the machine files (a carrier: ``_cloud_config``, ``_heredoc``), its own template, the
runner's instance-id fragment for its cloud, and its size limit. Modules without one (``bundle``,
``limits``) and private ones are helpers.
"""

from __future__ import annotations

import importlib
import pkgutil

from ..plan import Plan
from ._record import Artifact, Carried, Gzip, SizeLimit, Target, Variant

__all__ = ["TARGETS", "TARGET_RECORDS", "TEST_TARGETS", "Artifact", "Carried", "Gzip", "SizeLimit", "Target",
           "Variant", "render"]  # fmt: skip


def _records() -> dict[str, Target]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            record = getattr(importlib.import_module(f"{__name__}.{info.name}"), "TARGET", None)
            if isinstance(record, Target):
                found.append(record)
    return {record.name: record for record in sorted(found, key=lambda r: (r.rank, r.name))}


TARGET_RECORDS = _records()
TARGETS = tuple(TARGET_RECORDS)
# What `bootstrap test` and `bake -b local` hand a guest (localvm/clients.py): each target's clients.
TEST_TARGETS = tuple(client for record in TARGET_RECORDS.values() for client in record.clients)


def render(plan: Plan, target: str, *, gzip: bool = False, variant: Variant = Variant.USER_DATA) -> Artifact:
    """The target's bytes, for ``variant`` (Variant.BAKE: the builder's, image-scope steps then seal and power
    off; Variant.EXTERNAL_BAKE: image-scope steps only, for builders that seal and stop it themselves)."""
    return TARGET_RECORDS[target].render(plan, variant, gzip)
