"""Check one rendered artifact: MIME structure, cloud-config schema, and every script."""

from __future__ import annotations

import re
import shlex
from dataclasses import replace

import yaml

from ..plan import Plan, Step
from ..targets import TARGET_RECORDS, Artifact
from ..targets.bundle import LIB_DIR, library, machine_files
from . import Finding, cloudinit_schema, mime, shell

COMMAND_MARKER = "# The profile author's command, verbatim:\n"  # templates/features/commands/run.sh.j2


def check_rendered(plan: Plan, artifact: Artifact) -> list[Finding]:
    """Checks run on what the target carries (the files cloud-init's YAML parser or the script's
    heredocs would write), after checking that those bytes are the plan's, byte for byte."""
    where = f"{plan.profile}[{artifact.target}{' bake' if artifact.bake else ''}]"
    findings: list[Finding] = []
    scripts: dict[str, str] = {}
    target = TARGET_RECORDS[artifact.target]
    if target.carries == "cloud-config":
        parts, structure = mime.split(artifact.data, where)
        findings += structure
        configs = [(f"{where}/{p.filename}", p.text) for p in parts if p.content_type == "text/cloud-config"]
        findings += cloudinit_schema.validate(configs)
        scripts.update({f"{where}/{p.filename}": p.text for p in parts if "shellscript" in p.content_type})
        carried = _written_by_cloud_config([text for _, text in configs])
    else:
        text = artifact.data.decode()
        scripts[f"{where}/script"] = text
        carried = _written_by_heredocs(text)
    for file in machine_files(plan, target.files_of, artifact.bake):
        content = carried.get(file.path)
        if content is None or content.rstrip("\n") != file.content.rstrip("\n"):
            findings.append(Finding("error", "output", f"{where}:{file.path}",
                                    "the target does not carry this file's bytes as planned"
                                    + (" (missing)" if content is None else " (a value was changed on the way)"),
                                    "a bug in bootstrap's target: please report it with the profile"))  # fmt: skip
        if file.path != f"{LIB_DIR}/plan":
            scripts[f"{where}:{file.path}"] = content if content is not None else file.content
    authored = {f"{where}:{LIB_DIR}/steps/{s.id}.sh": s for s in plan.steps if s.feature == "commands" and s.origin}
    located = [_locate(f, authored, scripts) for f in shell.check_scripts(scripts, library=library())]
    return findings + located


def _written_by_cloud_config(configs: list[str]) -> dict[str, str]:
    """What cloud-init's write_files would write: it reads the part with yaml.safe_load, as here."""
    files: dict[str, str] = {}
    for text in configs:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            continue  # the schema check reports it
        for entry in (data or {}).get("write_files", []) if isinstance(data, dict) else []:
            if isinstance(entry, dict) and isinstance(entry.get("content"), str):
                files[str(entry.get("path"))] = entry["content"]
    return files


HEREDOC = re.compile(r"^install_file (\S+) (\S+) <<'(BOOTSTRAP_EOF_[0-9a-f]+)'\n(.*?)^\3$", re.M | re.S)


def _written_by_heredocs(script: str) -> dict[str, str]:
    """What the bash and GCE scripts' ``install_file`` heredocs write, as bash would read them."""
    return {shlex.split(m.group(2))[0]: m.group(4) for m in HEREDOC.finditer(script)}


def _locate(finding: Finding, authored: dict[str, Step], scripts: dict[str, str]) -> Finding:
    """A finding in the profile author's own command points at the profile line that wrote it."""
    for name, step in authored.items():
        if finding.where.startswith(name + ":"):
            line = int(finding.where[len(name) + 1 :].split(":")[0])
            preamble = scripts[name].split(COMMAND_MARKER, 1)[0].count("\n") + 1
            where = f"{step.origin} (command {step.id}, its line {line - preamble})"
            return replace(finding, where=where)
    return finding
