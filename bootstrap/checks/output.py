"""Check one rendered artifact: MIME structure, cloud-config schema, and every script."""

from __future__ import annotations

from ..plan import Plan
from ..targets import Artifact
from ..targets.bundle import LIB_DIR, library, machine_files
from . import Finding, cloudinit_schema, mime, shell

CLOUD_INIT_TARGETS = ("cloud-init", "ec2")


def check_rendered(plan: Plan, artifact: Artifact) -> list[Finding]:
    where = f"{plan.profile}[{artifact.target}]"
    findings: list[Finding] = []
    scripts: dict[str, str] = {}
    if artifact.target in CLOUD_INIT_TARGETS:
        parts, structure = mime.split(artifact.data, where)
        findings += structure
        findings += cloudinit_schema.validate(
            [(f"{where}/{p.filename}", p.text) for p in parts if p.content_type == "text/cloud-config"]
        )
        scripts.update({f"{where}/{p.filename}": p.text for p in parts if "shellscript" in p.content_type})
    else:
        scripts[f"{where}/script"] = artifact.data.decode()
    for file in machine_files(plan, artifact.target):
        if file.path != f"{LIB_DIR}/plan":
            scripts[f"{where}:{file.path}"] = file.content
    findings += shell.check_scripts(scripts, library=library())
    return findings
