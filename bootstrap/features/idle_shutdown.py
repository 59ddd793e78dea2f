"""idle_shutdown: power off after N idle minutes, the cost policy data teams ask for.

Idle means: no SSH session, no running Jupyter kernel, and every GPU under the utilisation
threshold. A systemd timer checks every minute and logs each check (journalctl -t bootstrap-idle).
"""

from __future__ import annotations

from typing import Any

from ..layout import IDLE_CHECK
from ..plan import Phase, Scope, Step
from ..templating import render
from . import describe

KEY = "idle_shutdown"
AFTER = frozenset({"services"})  # it watches the services' activity
CHECK_SCRIPT = IDLE_CHECK
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["after_minutes"],
    "additionalProperties": False,
    "description": "Power off after this many minutes with no SSH session, no running Jupyter kernel and GPU "
    "utilisation under the threshold. The clock restarts at every boot.",
    "examples": [{"after_minutes": 60, "gpu_threshold_percent": 5}],
    "properties": {
        "after_minutes": {"type": "integer", "minimum": 5, "maximum": 10080, "description": "Idle minutes."},
        "gpu_threshold_percent": {"type": "integer", "minimum": 0, "maximum": 100, "default": 5,
                                  "description": "A GPU busier than this counts as activity."},
        "ssh": {"type": "boolean", "default": True, "description": "An SSH session counts as activity."},
        "jupyter": {"type": "boolean", "default": True, "description": "A running Jupyter kernel counts."},
    },
}  # fmt: skip
describe(
    SCHEMA["properties"],
    {
        "after_minutes": ("Idle minutes.", 60),
        "gpu_threshold_percent": ("A GPU busier than this counts as activity.", 5),
        "ssh": ("An SSH session counts as activity.", True),
        "jupyter": ("A running Jupyter kernel counts as activity.", True),
    },
)


def steps(config: dict[str, Any], context: Any) -> list[Step]:
    settings = {
        "after_seconds": config["after_minutes"] * 60,
        "gpu_threshold": config["gpu_threshold_percent"],
        "ssh": config["ssh"],
        "jupyter": config["jupyter"],
    }
    check = render("features/idle_shutdown/idle-check.sh.j2", **settings)
    body = render("features/idle_shutdown/install.sh.j2", check=check, check_path=CHECK_SCRIPT,
                  distro=context.distro)  # fmt: skip
    return [Step("idle-shutdown", Phase.EVERY_BOOT, Scope.INSTANCE, KEY, body,
                 f"power off after {config['after_minutes']} idle minutes")]  # fmt: skip
