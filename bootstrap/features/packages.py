"""packages: the distro's packages, by the names it knows them by (image scope: baking captures them)."""

from __future__ import annotations

from typing import Any

from ..distro import Package
from ..plan import Phase, Scope, Step
from ..templating import render
from ..wording import count
from . import Needs

KEY = "packages"
AFTER = frozenset({"hostname", "timezone"})  # package scripts read the hostname and timezone (postfix, tzdata)
PACKAGE_PATTERN = r"^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?(=[A-Za-z0-9.+:~_-]+)?$"
SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "string",
        "pattern": PACKAGE_PATTERN,
        "x-help": "a Debian package name, optionally :arch and =version, e.g. htop or git=1:2.39.5-0+deb12u1",
    },
    "uniqueItems": True,
    "description": "apt packages to install on first boot. Already-installed packages are skipped without "
    "touching the network; apt waits for locks held by unattended-upgrades.",
    "examples": [["htop", "git", "tmux"]],
}


def steps(config: list[str], context: Any) -> list[Step]:
    if not config:
        return []
    distro = context.distro
    body = render("features/packages/install.sh.j2", packages=sorted(config), distro=distro)
    return [
        Step(
            "packages", Phase.FIRST_BOOT, Scope.IMAGE, KEY, body,
            f"install {count(len(config), distro.manager.name + ' package')}", cost="network",
        )
    ]


def needs(config: list[str]) -> Needs:
    return Needs(packages=tuple(Package.native(name.split("=")[0]) for name in config))
