"""Self-contained bash targets: ``bash`` (any Debian/Ubuntu machine) and ``gce`` (startup-script)."""

from __future__ import annotations

import hashlib

from .. import __version__
from ..errors import RenderError
from ..plan import Plan
from ..templating import render
from . import Artifact
from .bundle import RUNNER, SEAL, machine_files
from .limits import GCE_METADATA_VALUE, describe_sizes


def _delimiter(content: str) -> str:
    # Derived from the content's own hash: the content cannot contain its own hash as a line.
    return "BOOTSTRAP_EOF_" + hashlib.sha256(content.encode()).hexdigest()[:20]


def payload(plan: Plan, target: str, bake: bool | str = False) -> str:
    files = []
    for file in machine_files(plan, target, bake):
        content = file.content if file.content.endswith("\n") else file.content + "\n"
        files.append({"path": file.path, "mode": file.mode, "content": content, "delimiter": _delimiter(content)})
    unit = render("targets/bootstrap.service.j2")
    return render(
        "targets/payload.sh.j2",
        version=__version__,
        profile=plan.profile,
        target=target,
        plan_hash=plan.hash,
        files=files,
        step_files=[f"{s.id}.sh" for s in plan.ordered],
        runner=RUNNER,
        seal=SEAL,
        unit=unit,
        unit_delimiter=_delimiter(unit),
        bake=bake,
    )


def render_bash(plan: Plan, gzip: bool = False, bake: bool | str = False) -> Artifact:
    return Artifact("bash", payload(plan, "bash", bake).encode())


def render_gce(plan: Plan, gzip: bool = False, bake: bool | str = False) -> Artifact:
    data = payload(plan, "gce", bake).encode()
    if len(data) > GCE_METADATA_VALUE:
        raise RenderError(
            f"the GCE startup-script is {describe_sizes(data)}; GCE allows {GCE_METADATA_VALUE:,} bytes per "
            "metadata value and does not decompress it. Move large files out of the profile (fetch them at "
            "boot from a bucket) or bake an image with the heavy steps."
        )
    return Artifact("gce", data)
