"""verify: shell checks run after the phases on every boot, e.g. `test -x /opt/conda/bin/python`.

`bootstrap test` reports them per boot; on a real machine they are a cheap health check whose
failures show in status.json and the journal.
"""

from __future__ import annotations

from typing import Any

from ..plan import Phase, Scope, Step
from ..templating import render
from ..wording import count

KEY = "verify"
AFTER: frozenset[str] = frozenset()
DEFAULT_AFTER = frozenset({"*", "commands"})  # last: it proves what every other step did
SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string", "minLength": 1},
    "description": "Shell checks run after the phases on every boot; each must exit 0. All run, and the step "
    "fails listing every check that did not pass.",
    "examples": [["test -x /opt/conda/envs/ds/bin/python", "systemctl is-active --quiet jupyter"]],
}


def steps(config: list[str], context: Any) -> list[Step]:
    if not config:
        return []
    body = render("features/verify/run.sh.j2", checks=list(config))
    return [Step("verify", Phase.EVERY_BOOT, Scope.INSTANCE, KEY, body, count(len(config), "check"))]
