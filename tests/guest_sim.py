"""What our runner prints on a guest's console, for stand-ins of clouds that run no machines."""

from __future__ import annotations

import re

import yaml

from bootstrap.checks import mime
from bootstrap.plan import Phase, Plan, Scope

PLAN_HEREDOC = re.compile(r"install_file 0644 /usr/local/lib/bootstrap/plan <<'(\w+)'\n(.*?)\n\1\n", re.S)


def plan_rows(plan: Plan) -> list[tuple[str, str, str]]:
    return [(s.id, s.phase.value, s.scope.value) for s in plan.ordered]


def table_from_script(script: str) -> str:
    """The plan table that rendered user data installs (a bash/gce payload, or cloud-init MIME)."""
    if match := PLAN_HEREDOC.search(script):
        return match.group(2)
    parts, _ = mime.split(script.encode())
    files = [f for p in parts if p.content_type == "text/cloud-config"
             for f in yaml.safe_load(p.text).get("write_files", [])]  # fmt: skip
    return next(f["content"] for f in files if f["path"] == "/usr/local/lib/bootstrap/plan")


def rows_from_script(script: str) -> list[tuple[str, str, str]]:
    return [tuple(line.split("\t")[:3]) for line in table_from_script(script).splitlines() if line]  # type: ignore[misc]


def layer_ends(script: str) -> dict[str, int]:
    """step id -> the layer that ends with it: a builder's plan table's fifth column (none elsewhere)."""
    rows = [line.split("\t") for line in table_from_script(script).splitlines() if line]
    return {row[0]: int(row[4]) for row in rows if len(row) > 4 and row[4]}


def layered_builder_console(script: str, start: int, told: int) -> str:
    """A cloud builder's console, as runner.sh.j2 prints it: the steps of layers 1..``start`` (those of the
    layer it booted from) skipped, a layer point at each later layer's end, where it waits until the host
    has told it (``told``: the host's word so far, its instance tag or metadata bootstrap-layer)."""
    ends, lines = layer_ends(script), []
    layer = 1
    for step_id, phase, scope in rows_from_script(script):
        if phase != Phase.FIRST_BOOT.value or scope != Scope.IMAGE.value:
            continue
        where = f"{step_id} ({phase}, {scope})"
        if layer <= start:
            lines.append(f"bootstrap: step {where}: in the layer this bake starts from, skipped")
        else:
            lines.append(f"bootstrap: step {where}: ok in 5ms")
        if step_id in ends:
            layer = ends[step_id]
            if layer > start:
                lines.append(f"BOOTSTRAP-LAYER {layer}")
                if told < layer:
                    return "\n".join(lines) + "\n"  # waiting for the host's word
                lines.append(f"bootstrap: layer {layer}: recorded")
            layer += 1
    lines += ["BOOTSTRAP-RESULT ok -", "bootstrap: sealing the image", "BOOTSTRAP-RESULT sealed -"]
    return "\n".join(lines) + "\n"


def console_lines(plan: Plan | list[tuple[str, str, str]], role: str, fail_at: str | None = None) -> str:
    rows = plan_rows(plan) if isinstance(plan, Plan) else plan
    lines = []
    for step_id, phase, scope in rows:
        image = phase == Phase.FIRST_BOOT.value and scope == Scope.IMAGE.value
        where = f"{step_id} ({phase}, {scope})"
        if role == "builder" and not image:
            continue
        if role == "test" and image:
            lines.append(f"bootstrap: step {where}: baked into this image, skipped")
            continue
        if step_id == fail_at:
            lines.append(f"bootstrap: step {where}: FAILED with exit 100 after 12ms")
            lines.append(f"BOOTSTRAP-RESULT failed {step_id}")
            return "\n".join(lines) + "\n"
        lines.append(f"bootstrap: step {where}: ok in 5ms")
    lines.append("BOOTSTRAP-RESULT ok -")
    if role == "builder":
        lines.append("bootstrap: sealing the image")
        lines.append("BOOTSTRAP-RESULT sealed -")
    return "\n".join(lines) + "\n"
