"""Check one rendered artifact: MIME structure, cloud-config schema, and every script."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import Mark
from ..layout import RUNNER
from ..plan import Plan, Step
from ..targets import TARGET_RECORDS, Artifact
from ..targets.bundle import LIB_DIR, library, machine_files
from . import Finding, cloudinit_schema, shell
from .cache import FindingsCache

COMMAND_MARKER = "# The profile author's command, verbatim:\n"  # templates/features/commands/run.sh.j2


@dataclass
class Pending:
    """One artifact's check, waiting on the external checkers: findings so far, the scripts for shellcheck
    and the cloud-config parts for cloud-init, batched with other artifacts' (see finish)."""

    findings: list[Finding]
    scripts: dict[str, str]
    configs: list[tuple[str, str]]
    authored: dict[str, Step]  # the profile author's commands, by script name, to point findings at
    distro: str  # the plan's: its lib.sh is what the scripts' `source` line reads
    snippets: dict[str, Mark] = field(default_factory=dict)  # other shell a profile passes to `bash -c`


def check_rendered(plan: Plan, artifact: Artifact) -> list[Finding]:
    """Every check on one rendered artifact."""
    return finish([prepare(plan, artifact)])[0]


def prepare(plan: Plan, artifact: Artifact) -> Pending:
    """Checks run on what the target carries, as its own reader reads it (the files cloud-init's YAML
    parser or the script's heredocs would write), after checking that those are the plan's, byte for byte."""
    where = f"{plan.profile}[{artifact.target}{' bake' if artifact.variant.bakes else ''}]"
    target = TARGET_RECORDS[artifact.target]
    carried = target.read(artifact.data, where)
    findings = list(carried.findings)
    configs = [(f"{where}/{name}", text) for name, text in carried.configs.items()]
    scripts = {f"{where}/{name}": text for name, text in carried.scripts.items()}
    for file in machine_files(plan, target.machine, artifact.variant):
        found = carried.files.get(file.path)
        if found is None or found.content.rstrip("\n") != file.content.rstrip("\n") or found.mode != file.mode:
            why = ("missing" if found is None else "a value was changed on the way" if found.mode == file.mode
                   else f"mode {found.mode}, not {file.mode}")  # fmt: skip
            findings.append(Finding("error", "output", f"{where}:{file.path}",
                                    f"the target does not carry this file's bytes as planned ({why})",
                                    "a bug in bootstrap's target: please report it with the profile"))  # fmt: skip
        if file.path != f"{LIB_DIR}/plan":
            scripts[f"{where}:{file.path}"] = found.content if found is not None else file.content
    authored = {f"{where}:{LIB_DIR}/steps/{s.id}.sh": s for s in plan.steps if s.feature == "commands" and s.origin}
    return Pending(findings, {name: _neutral(name, text, plan) for name, text in scripts.items()}, configs, authored,
                   plan.distro)  # fmt: skip


SNIPPET_HEADER = "#!/bin/bash\n# shellcheck disable=SC2317\n"  # a verify check or service command, alone


def snippets(profile: Any) -> tuple[dict[str, str], dict[str, Mark]]:
    """Shell that the profile hands to `bash -c` at boot (verify entries, service commands): quoted data
    in the scripts, so shellcheck never saw inside it. Each is checked as a script of its own."""
    from ..yamlload import mark_at

    found: list[tuple[list[Any], Any]] = [(["verify", i], v) for i, v in enumerate(profile.get("verify") or [])]
    units = (profile.get("services") or {}).get("units") or []
    found += [(["services", "units", i, "command"], unit.get("command")) for i, unit in enumerate(units)
              if isinstance(unit, dict)]  # fmt: skip
    texts, marks = {}, {}
    for path, text in found:
        mark = mark_at(profile, path)
        if isinstance(text, str) and mark is not None:
            name = "snippet:" + ".".join(map(str, path))
            texts[name], marks[name] = SNIPPET_HEADER + text + "\n", mark
    return texts, marks


def _neutral(name: str, text: str, plan: Plan) -> str:
    """The same program to shellcheck, in words that do not vary: the runner and the script targets
    spell the plan hash (which any change to any step changes; a word of the same length in its
    place) and the runner its target (`TARGET=gce`, a plain assignment of a word), so that a one-line
    change, or another target, finds them in the cache."""
    text = text.replace(plan.hash, "0" * len(plan.hash))
    return TARGET_LINE.sub("TARGET=target", text, count=1) if name.endswith(f":{RUNNER}") else text


TARGET_LINE = re.compile(r"^TARGET=[A-Za-z0-9-]+$", re.M)


def finish(pending: list[Pending], findings_cache: FindingsCache | None = None) -> list[list[Finding]]:
    """Run the external checkers once over every pending artifact's scripts and parts (each distinct
    text once, cached), and hand each artifact its findings."""
    from concurrent.futures import ThreadPoolExecutor

    store = findings_cache or FindingsCache()
    configs = [config for item in pending for config in item.configs]
    by_script: dict[str, list[Finding]] = {}
    with ThreadPoolExecutor(max_workers=1) as pool:  # cloud-init's validator runs while shellcheck does
        schema_run = pool.submit(cloudinit_schema.validate_each, configs, store)
        for distro in dict.fromkeys(item.distro for item in pending):  # each against its own lib.sh
            scripts = {name: text for item in pending if item.distro == distro for name, text in item.scripts.items()}
            if scripts:
                by_script |= shell.findings_by_script(scripts, library(distro), store)
        by_config = iter(schema_run.result())
    results = []
    for item in pending:
        schema = [finding for _ in item.configs for finding in next(by_config)]
        located = [_locate(f, item.authored, item.scripts) if name not in item.snippets else
                   _in_profile(f, name, item.snippets[name], SNIPPET_HEADER.count("\n"),
                               lines=item.scripts[name].count("\n") - SNIPPET_HEADER.count("\n") - 1)
                   for name in item.scripts for f in by_script[name]]  # fmt: skip
        results.append(item.findings + schema + located)
    return results


def _locate(finding: Finding, authored: dict[str, Step], scripts: dict[str, str]) -> Finding:
    """A finding in the profile author's own command points at the profile line that wrote it."""
    for name, step in authored.items():
        if (finding.where.startswith(name + ":") or finding.where == name) and step.origin is not None:
            before, command = scripts[name].split(COMMAND_MARKER, 1)
            preamble = before.count("\n") + 1
            target = name.split("[", 1)[1].split("]", 1)[0] if "[" in name else ""
            located = _in_profile(finding, name, step.origin, preamble, f" (command {step.id})",
                                  lines=command.rstrip("\n").count("\n") + 1)  # fmt: skip
            return replace(located, targets=(*finding.targets, target) if target else finding.targets)
    return finding


def _in_profile(finding: Finding, name: str, mark: Mark, preamble: int, what: str = "",
                lines: int | None = None) -> Finding:  # fmt: skip
    """A finding on line N of shell the profile wrote, at the profile's own line: inside a block scalar
    (`run: |`) the Nth line below the key, not the key's line. One past the end (bash's "unexpected
    end of file") is the shell's last line, never the profile line after it."""
    syntax = re.search(r": line (\d+): ", finding.message) if finding.where == name else None
    if syntax is None and not finding.where.startswith(name + ":"):
        return finding
    line, column = (int(syntax.group(1)), 1) if syntax else map(int, finding.where[len(name) + 1 :].split(":")[:2])
    line -= preamble
    if lines is not None and line > lines >= 1:
        line, column = lines, 1
    message = finding.message.replace(syntax.group(0)[2:], "", 1) if syntax else finding.message
    if syntax and message.startswith(f"{name}: "):
        message = message[len(name) + 2 :]  # the profile's line says where
    return replace(finding, where=f"{_file_position(mark, line, column)}{what}", message=message)


def _file_position(mark: Mark, line: int, column: int) -> str:
    """Where line ``line`` (1-based), column ``column`` of a value that starts at ``mark`` lies in its file."""
    lines = _lines(mark.source)
    head = lines[mark.line - 1] if 0 < mark.line <= len(lines) else ""
    if head[mark.column - 1 : mark.column] in ("|", ">") and line >= 1:  # a block scalar: its lines follow the key
        at = mark.line + line
        text = lines[at - 1] if at <= len(lines) else ""
        return f"{mark.source}:{at}:{len(text) - len(text.lstrip()) + column}"
    if line <= 1:
        quoted = head[mark.column - 1 : mark.column] in ("'", '"')  # the text starts after the quote
        return f"{mark.source}:{mark.line}:{mark.column + column - 1 + quoted}"
    return f"{mark}"  # a quoted scalar over several lines: its start


@lru_cache(maxsize=32)
def _lines(source: str) -> list[str]:
    try:
        return Path(source).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
