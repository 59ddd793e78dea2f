"""commands: the profile author's own shell, the one place where a profile writes shell on purpose."""

from __future__ import annotations

from typing import Any

from ..errors import Mark, Problem
from ..plan import Phase, Scope, Step
from ..templating import render
from ..yamlload import value_mark
from . import describe

KEY = "commands"
_NAMES = "Features (all of their steps; mounts: the mounting, after mounts-tools) or step ids"
# Names of features (all of their steps) or step ids, as `bootstrap explain` lists them.
ORDER_NAMES: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9._-]{0,79}$", "x-help": "a feature or a step id"},
    "uniqueItems": True,
}
AFTER: frozenset[str] = frozenset()
DEFAULT_AFTER = frozenset({"*"})  # the author's commands may use everything declared, unless they say
FREE_ORDER = True  # a command that states before:/after: moves; the others keep their places
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
                "before": {**ORDER_NAMES, "description": f"{_NAMES} this command runs before."},
                "after": {**ORDER_NAMES, "description": f"{_NAMES} this command runs after."},
            },
        },
    ],
    "x-help": "a command string, or a mapping with 'run' (and optional 'name', 'scope', 'before', 'after')",
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "Shell snippets (bash, set -euo pipefail), each its own step. first_boot snippets run "
    "once per instance, every_boot snippets on every boot; both after the other features' steps and before the "
    "services and verify, unless they say before:/after:. Make them idempotent.",
    "examples": [{"first_boot": ["systemctl enable --now docker"], "every_boot": ["nvidia-smi -pm 1"]}],
    "properties": {
        "first_boot": {"type": "array", "items": _COMMAND, "description": "Once per instance, in order."},
        "every_boot": {"type": "array", "items": _COMMAND, "description": "Every boot, after the first-boot commands "
                       "unless it says before:/after:."},
    },
}
describe(
    SCHEMA["properties"],
    {
        "first_boot": ("Once per instance, in order.", ["git clone https://github.com/example/project /data/project"]),
        "every_boot": (
            "Every boot, after the first-boot commands unless it says before:/after:.",
            [{"name": "gpu-clocks", "run": "nvidia-smi -lgc 1410"}],
        ),
    },
)
for _variant in _COMMAND["anyOf"][1:]:
    describe(
        _variant["properties"],
        {
            "run": ("Bash, run with set -euo pipefail.", "systemctl enable --now docker"),
            "name": ("Step id suffix (stable ids keep markers when the list changes).", "docker"),
            "scope": ("image: baked images skip it on new instances.", "image"),
            "before": (f"{_NAMES} this command runs before (e.g. a disk prepared before it is mounted).", ["mounts"]),
            "after": (f"{_NAMES} this command runs after.", ["services"]),
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
    for phase, index, item, mark in _items(config):
        step_id = _step_id(phase, index, item)
        if step_id in seen:
            what = f"two commands are named {item['name']!r}" if "name" in item else (
                f"{phase.value} command {index} gets step id {step_id!r}, which a named command already has")
            hint = "give each command its own name" if "name" in item else "name it (name: ...), or rename the other"
            problems.append(Problem(what, value_mark(item, "name") if "name" in item else mark, hint))
        seen.add(step_id)
    return problems


def order_marks(item: dict[str, Any]) -> dict[str, Mark]:
    """Where a command or unit said each name of its before:/after:, for the ordering's problems."""
    marks = {}
    for word in ("before", "after"):
        for index, name in enumerate(item.get(word, ())):
            mark = value_mark(item[word], index) or value_mark(item, word)
            if mark is not None:
                marks[f"{word} {name}"] = mark
    return marks


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
                before=tuple(item.get("before", ())),
                after=tuple(item.get("after", ())),
                order_marks=order_marks(item),
            )
        )
    return result
