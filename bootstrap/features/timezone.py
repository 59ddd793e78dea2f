"""timezone: the system time zone (an IANA name), the same on every instance of an image."""

from __future__ import annotations

from typing import Any

from ..plan import Phase, Scope, Step
from ..templating import render

KEY = "timezone"
AFTER: frozenset[str] = frozenset()
SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$",
    "x-help": "an IANA time zone name such as UTC or Europe/Paris",
    "description": "IANA time zone. The step fails clearly if the image lacks that zone (install tzdata).",
    "examples": ["UTC", "Europe/Paris"],
}


def steps(config: str, context: Any) -> list[Step]:
    body = render("features/timezone/set.sh.j2", timezone=config)
    return [Step("timezone", Phase.FIRST_BOOT, Scope.IMAGE, KEY, body, f"set time zone {config}")]
