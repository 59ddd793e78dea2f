"""What our runner prints on a guest's console, for stand-ins of clouds that run no machines."""

from __future__ import annotations

import re

from bootstrap.plan import Phase, Plan, Scope

PLAN_HEREDOC = re.compile(r"install_file 0644 /usr/local/lib/bootstrap/plan <<'(\w+)'\n(.*?)\n\1\n", re.S)


def plan_rows(plan: Plan) -> list[tuple[str, str, str]]:
    return [(s.id, s.phase.value, s.scope.value) for s in plan.ordered]


def rows_from_script(script: str) -> list[tuple[str, str, str]]:
    """The plan table a rendered bash/gce payload installs: what its runner would run."""
    match = PLAN_HEREDOC.search(script)
    if not match:
        raise ValueError("no plan in this startup script")
    return [tuple(line.split("\t")[:3]) for line in match.group(2).splitlines() if line]  # type: ignore[misc]


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
