"""What our runner prints on a guest's console, for stand-ins of clouds that run no machines."""

from __future__ import annotations

import re

import yaml

from bootstrap.checks import mime
from bootstrap.plan import Phase, Plan, Scope

PLAN_HEREDOC = re.compile(r"install_file 0644 /usr/local/lib/bootstrap/plan <<'(\w+)'\n(.*?)\n\1\n", re.S)


def plan_rows(plan: Plan) -> list[tuple[str, str, str]]:
    return [(s.id, s.phase.value, s.scope.value) for s in plan.ordered]


def rows_from_script(script: str) -> list[tuple[str, str, str]]:
    """The plan table that rendered user data installs (a bash/gce payload, or cloud-init MIME)."""
    if match := PLAN_HEREDOC.search(script):
        table = match.group(2)
    else:
        parts, _ = mime.split(script.encode())
        files = [f for p in parts if p.content_type == "text/cloud-config"
                 for f in yaml.safe_load(p.text).get("write_files", [])]  # fmt: skip
        table = next(f["content"] for f in files if f["path"] == "/usr/local/lib/bootstrap/plan")
    return [tuple(line.split("\t")[:3]) for line in table.splitlines() if line]  # type: ignore[misc]


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
