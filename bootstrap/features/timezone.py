"""timezone: the system time zone (an IANA name), the same on every instance of an image."""

from __future__ import annotations

from typing import Any

from ..distro import Package
from ..errors import Problem
from ..plan import Phase, Scope, Step
from ..schema import suggest
from ..templating import render
from ..yamlload import value_mark
from . import Needs

KEY = "timezone"
AFTER: frozenset[str] = frozenset()
TZDATA = Package(debian="tzdata")  # installed when the image lacks it
SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$",
    "x-help": "an IANA time zone name such as UTC or Europe/Paris",
    "description": "IANA time zone. The step fails clearly if the image lacks that zone (install tzdata).",
    "examples": ["UTC", "Europe/Paris"],
}


def check(config: str, context: Any) -> list[Problem]:
    """An IANA name, known to the tzdata bootstrap ships with (the machine's own must know it too)."""
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(config)  # one file read; the full list only to suggest a name
        return []
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        pass
    close = suggest(config, sorted(zoneinfo.available_timezones()))
    hint = f"did you mean {close!r}?" if close else "see the TZ identifiers in the IANA time zone database"
    return [Problem(f"{config!r} is not an IANA time zone name", value_mark(context.profile, KEY), hint)]


def steps(config: str, context: Any) -> list[Step]:
    body = render("features/timezone/set.sh.j2", timezone=config, distro=context.distro,
                  tzdata=context.distro.name_of(TZDATA))  # fmt: skip
    return [Step("timezone", Phase.FIRST_BOOT, Scope.IMAGE, KEY, body, f"set time zone {config}")]


def needs(config: str) -> Needs:
    return Needs(packages=(TZDATA,))
