"""hostname: the machine's name, kept on every boot (clouds' agents may reset it)."""

from __future__ import annotations

from typing import Any

from ..plan import Phase, Scope, Step
from ..templating import render

KEY = "hostname"
AFTER: frozenset[str] = frozenset()
SCHEMA: dict[str, Any] = {
    "type": "string",
    "maxLength": 253,
    "pattern": r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$",
    "x-help": "a lowercase host name or FQDN: labels of letters, digits and '-', joined by '.'",
    "description": "Host name or fully qualified name. Set on every boot; /etc/hosts maps it to 127.0.1.1.",
    "examples": ["ml-box", "ml-box.research.example.com"],
}


def steps(config: str, context: Any) -> list[Step]:
    short = config.split(".", 1)[0]
    body = render("features/hostname/set.sh.j2", short=short, fqdn=config)
    return [Step("hostname", Phase.EVERY_BOOT, Scope.INSTANCE, KEY, body, f"set host name {config}")]


def cloud_config(config: str) -> dict[str, Any]:
    # cloud-init's update_hostname module resets the name on every boot unless it agrees with us.
    result: dict[str, Any] = {"preserve_hostname": False, "hostname": config.split(".", 1)[0]}
    if "." in config:
        result["fqdn"] = config
    return result
