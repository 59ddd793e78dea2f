"""env: environment variables for login shells, services and later steps."""

from __future__ import annotations

from typing import Any

from .. import layout
from ..plan import Phase, Scope, Step
from ..templating import render
from ..wording import count

KEY = "env"
AFTER = frozenset({"users"})
SCHEMA: dict[str, Any] = {
    "type": "object",
    "propertyNames": {
        "pattern": r"^[A-Za-z_][A-Za-z0-9_]{0,127}$",
        "x-help": "a variable name: letters, digits and '_', not starting with a digit",
    },
    "additionalProperties": {"type": "string"},
    "description": f"Variables written, shell-quoted, to {layout.ENV_FILE}: login shells and "
    "later steps see them. Values are data: never expanded. "
    "Secrets do not belong here: use secrets references.",
    "examples": [{"MLFLOW_TRACKING_URI": "http://mlflow.internal:5000"}],
}


def steps(config: dict[str, str], context: Any) -> list[Step]:
    if not config:
        return []
    names = sorted(config)
    profile_d = render("features/env/profile.d.sh.j2", variables=[(name, config[name]) for name in names])
    body = render("features/env/write.sh.j2", profile_d=profile_d)
    return [Step("env", Phase.FIRST_BOOT, Scope.IMAGE, KEY, body, f"set {count(len(names), 'environment variable')}")]
