"""The files every target installs on the machine: runner, step library, plan and steps.

Targets differ only in how these files get there (cloud-init ``write_files``, or heredocs in a
self-contained script) and in what starts the runner at each boot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .. import __version__
from ..distro import DEFAULT as DEFAULT_DISTRO
from ..distro import all_distros
from ..layers import groups, image_steps
from ..layout import LIB_DIR, MANIFEST_SCRIPT, RUNNER, SEAL
from ..plan import Plan, Step
from ._record import Variant


@dataclass(frozen=True)
class MachineFile:
    path: str
    mode: str
    content: str


def rendered(template: str, **context: Any) -> str:
    """A template, rendered. Jinja is imported on the first render, not with the registry of targets,
    which every command's parser reads."""
    from ..templating import render

    return render(template, **context)


def _comment(text: str) -> str:
    """Text safe to place after '#' on one line."""
    return re.sub(r"[^\x20-\x7e]", "?", text)


def step_script(step: Step) -> str:
    header = (
        "#!/usr/bin/env bash\n"
        f"# bootstrap step {step.id}: {_comment(step.description)}\n"
        f"# phase {step.phase.value}, scope {step.scope.value}, feature {step.feature}, hash {step.hash}\n"
        "set -euo pipefail\n"
        "# shellcheck source=lib.sh\n"
        f". {LIB_DIR}/lib.sh\n\n"
    )
    body = step.script if step.script.endswith("\n") else step.script + "\n"
    return header + body


def plan_table(plan: Plan, layers: bool = False) -> str:
    """The runner's plan, a step a line. ``layers`` (a builder's): the last step of each image layer
    (layers.py) carries the layer's index in a fifth column, where the runner stops for its snapshot."""
    ends: dict[str, int] = {}
    if layers:
        ends = {group[-1].id: index for index, group in enumerate(groups(image_steps(plan)), 1)}
    return "".join(f"{s.id}\t{s.phase.value}\t{s.scope.value}\t{s.hash}{_column(ends.get(s.id))}\n"
                   for s in plan.ordered)  # fmt: skip


def _column(value: int | None) -> str:
    return "" if value is None else f"\t{value}"


def compact(text: str, source: str) -> str:
    """``text`` without its whole-line comments: every byte of user data counts (EC2 takes 16 KiB),
    and the commented source ships with bootstrap. The first line and shellcheck directives stay.
    Only for our own runner files, which hold no heredocs or multi-line strings."""
    lines = text.splitlines(keepends=True)
    kept = [line for line in lines[1:] if not line.lstrip().startswith("#") or "shellcheck" in line]
    return "".join([*lines[:1], f"# comments removed; the commented source is bootstrap's {source}\n", *kept])


def runner_script(plan: Plan, target: str, bakes: bool = False) -> str:
    """The runner, with the target's own way to ask its cloud for the instance id (its record's fragment).
    ``bakes``: a builder's, which also starts from a layer and stops at each layer's end (layers.py),
    waiting there for the host's word (the local port, else its record's layer_wait fragment)."""
    from . import TARGET_RECORDS

    record = TARGET_RECORDS[target]
    instance_id = rendered(record.instance_id).rstrip("\n")
    layer_wait = rendered(record.layer_wait).strip("\n") if bakes and record.layer_wait else "    return 0"
    text = rendered("runner/runner.sh.j2", version=__version__, profile=plan.profile, target=target,
                  plan_hash=plan.hash, instance_id=instance_id, bakes=bakes, layer_wait=layer_wait)  # fmt: skip
    return compact(text, "templates/runner/runner.sh.j2")


def _runner_file(name: str, **context: Any) -> str:
    return compact(rendered(f"runner/{name}", **context), f"templates/runner/{name}")


def library(distro: str = DEFAULT_DISTRO) -> str:
    """lib.sh for ``distro``: the runner's library with its package manager's helpers."""
    return compact(rendered(all_distros()[distro].manager.library), "templates/runner/lib.sh.j2")


def manifest_script(distro: str = DEFAULT_DISTRO) -> str:
    """The image's manifest (runner/manifest.sh.j2): the seal runs it; so can a person, or a test."""
    return _runner_file("manifest.sh.j2", distro=all_distros()[distro])


def machine_files(plan: Plan, target: str, variant: Variant = Variant.USER_DATA) -> list[MachineFile]:
    files = [
        MachineFile(RUNNER, "0755", runner_script(plan, target, bakes=variant.bakes)),
        MachineFile(f"{LIB_DIR}/lib.sh", "0644", library(plan.distro)),
        MachineFile(f"{LIB_DIR}/plan", "0644", plan_table(plan, layers=variant is Variant.BAKE)),
    ]
    # A builder runs the image's steps only (runner bake): the others' scripts would be bytes of its user
    # data for nothing (an instance of the image gets them with its own).
    steps = image_steps(plan) if variant.bakes else plan.ordered
    files += [MachineFile(f"{LIB_DIR}/steps/{s.id}.sh", "0755", step_script(s)) for s in steps]
    if variant.bakes:
        files.append(MachineFile(SEAL, "0755", _runner_file("seal.sh.j2", distro=all_distros()[plan.distro])))
        files.append(MachineFile(MANIFEST_SCRIPT, "0755", manifest_script(plan.distro)))
    return files
