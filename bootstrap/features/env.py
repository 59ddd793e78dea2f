"""env: environment variables for login shells, services and later steps."""

from __future__ import annotations

import shlex
from typing import Any

from ..plan import Phase, Scope, Step
from ..templating import render

KEY = "env"
ORDER = 50
SCHEMA = {
    "type": "object",
    "propertyNames": {
        "pattern": r"^[A-Za-z_][A-Za-z0-9_]{0,127}$",
        "x-help": "a variable name: letters, digits and '_', not starting with a digit",
    },
    "additionalProperties": {"type": "string"},
    "description": "Variables written to /etc/profile.d/bootstrap-env.sh (login shells, later steps) and "
    "/etc/bootstrap/env (systemd EnvironmentFile). Values are data: never expanded. "
    "Secrets do not belong here: use secrets references.",
    "examples": [{"MLFLOW_TRACKING_URI": "http://mlflow.internal:5000"}],
}


def _systemd_value(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def steps(config: dict[str, str], context: Any) -> list[Step]:
    if not config:
        return []
    names = sorted(config)
    profile_d = "# Written by bootstrap from the profile's env; edit the profile instead.\n" + "".join(
        f"export {name}={shlex.quote(config[name])}\n" for name in names
    )
    env_file = "# Written by bootstrap from the profile's env (systemd EnvironmentFile format).\n" + "".join(
        f"{name}={_systemd_value(config[name])}\n" for name in names
    )
    body = render("features/env/write.sh.j2", profile_d=profile_d, env_file=env_file)
    return [Step("env", Phase.FIRST_BOOT, Scope.IMAGE, KEY, body, f"set {len(names)} environment variables")]
