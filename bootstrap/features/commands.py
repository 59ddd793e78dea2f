"""commands: the profile author's own shell, the one place where a profile writes shell on purpose."""

from __future__ import annotations

from typing import Any

from ..errors import Mark, Problem
from ..plan import Phase, Scope, Step
from ..templating import render
from ..yamlload import value_mark
from . import describe, problem

KEY = "commands"
AFTER = frozenset({"*"})  # the author's commands may use everything declared
_COMMAND: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "minLength": 1},
        {
            "type": "object",
            "required": ["run"],
            "additionalProperties": False,
            "properties": {
                "run": {"type": "string", "minLength": 1, "description": "Bash, run with set -euo pipefail."},
                "name": {
                    "type": "string",
                    "pattern": r"^[a-z0-9][a-z0-9-]{0,40}$",
                    "x-help": "lowercase letters, digits and '-'",
                    "description": "Step id suffix (stable ids keep markers when the list changes).",
                },
                "scope": {
                    "enum": ["image", "instance"],
                    "default": "instance",
                    "description": "image: baked images skip it on new instances.",
                },
            },
        },
    ],
    "x-help": "a command string, or a mapping with 'run' (and optional 'name', 'scope')",
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "Shell snippets (bash, set -euo pipefail), each its own step. first_boot snippets run "
    "once per instance, every_boot snippets on every boot. Make them idempotent.",
    "examples": [{"first_boot": ["systemctl enable --now docker"], "every_boot": ["nvidia-smi -pm 1"]}],
    "properties": {
        "first_boot": {"type": "array", "items": _COMMAND, "description": "Once per instance, in order."},
        "every_boot": {"type": "array", "items": _COMMAND, "description": "Every boot, after first-boot steps."},
    },
}
describe(
    SCHEMA["properties"],
    {
        "first_boot": ("Once per instance, in order.", ["git clone https://github.com/example/project /data/project"]),
        "every_boot": ("Every boot, after first-boot steps.", [{"name": "gpu-clocks", "run": "nvidia-smi -lgc 1410"}]),
    },
)
for _variant in _COMMAND["anyOf"][1:]:
    describe(
        _variant["properties"],
        {
            "run": ("Bash, run with set -euo pipefail.", "systemctl enable --now docker"),
            "name": ("Step id suffix (stable ids keep markers when the list changes).", "docker"),
            "scope": ("image: baked images skip it on new instances.", "image"),
        },
    )


_SCOPE_DEFAULT = _COMMAND["anyOf"][1]["properties"]["scope"]["default"]  # a one-line command's scope


def _items(config: dict[str, Any]) -> list[tuple[Phase, int, dict[str, Any], Mark | None]]:
    result = []
    for phase in (Phase.FIRST_BOOT, Phase.EVERY_BOOT):
        items = config.get(phase.value, [])
        for index, item in enumerate(items, start=1):
            mark = value_mark(items, index - 1)
            if isinstance(item, dict):
                mark = value_mark(item, "run") or mark
            result.append(
                (phase, index, {"run": item, "scope": _SCOPE_DEFAULT} if isinstance(item, str) else item, mark)
            )
    return result


def _step_id(phase: Phase, index: int, item: dict[str, Any]) -> str:
    if "name" in item:
        return f"cmd-{item['name']}"
    return f"cmd-{phase.value.replace('_', '-')}-{index:02d}"


def check(config: dict[str, Any], context: Any) -> list[Problem]:
    seen: set[str] = set()
    problems = []
    for phase, index, item, _ in _items(config):
        step_id = _step_id(phase, index, item)
        if step_id in seen:
            problems.append(problem(item, "name", f"two commands are named {item.get('name')!r}"))
        seen.add(step_id)
    return problems


def steps(config: dict[str, Any], context: Any) -> list[Step]:
    result = []
    for phase, index, item, mark in _items(config):
        body = render("features/commands/run.sh.j2", command=item["run"])
        first_line = item["run"].strip().splitlines()[0] if item["run"].strip() else ""
        result.append(
            Step(
                _step_id(phase, index, item),
                phase,
                Scope(item["scope"]),
                KEY,
                body,
                first_line[:80],
                origin=mark,
            )
        )
    return result
