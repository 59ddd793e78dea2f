"""Check one rendered artifact: MIME structure, cloud-config schema, and every script."""

from __future__ import annotations

from dataclasses import replace

from ..plan import Plan, Step
from ..targets import Artifact
from ..targets.bundle import LIB_DIR, library, machine_files
from . import Finding, cloudinit_schema, mime, shell

CLOUD_INIT_TARGETS = ("cloud-init", "ec2")
COMMAND_MARKER = "# The profile author's command, verbatim:\n"  # templates/features/commands/run.sh.j2


def check_rendered(plan: Plan, artifact: Artifact) -> list[Finding]:
    where = f"{plan.profile}[{artifact.target}{' bake' if artifact.bake else ''}]"
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
    for file in machine_files(plan, artifact.target, artifact.bake):
        if file.path != f"{LIB_DIR}/plan":
            scripts[f"{where}:{file.path}"] = file.content
    authored = {f"{where}:{LIB_DIR}/steps/{s.id}.sh": s for s in plan.steps if s.feature == "commands" and s.origin}
    located = [_locate(f, authored, scripts) for f in shell.check_scripts(scripts, library=library())]
    return findings + located


def _locate(finding: Finding, authored: dict[str, Step], scripts: dict[str, str]) -> Finding:
    """A finding in the profile author's own command points at the profile line that wrote it."""
    for name, step in authored.items():
        if finding.where.startswith(name + ":"):
            line = int(finding.where[len(name) + 1 :].split(":")[0])
            preamble = scripts[name].split(COMMAND_MARKER, 1)[0].count("\n") + 1
            where = f"{step.origin} (command {step.id}, its line {line - preamble})"
            return replace(finding, where=where)
    return finding
