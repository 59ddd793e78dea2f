"""Who a golden image is shared with: each cloud declares its principals (EC2 account ids,
organization and OU ARNs in clouds/ec2; GCE IAM members in clouds/gce), gathered here.

One pattern per form, used by the profile schema (`image.share`, so a malformed entry is exit 2 at its
line) and by `bake --share` alike; each backend takes the principals of its own cloud.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from . import all_clouds


def _forms() -> dict[str, tuple[str, str]]:
    forms: dict[str, tuple[str, str]] = {}
    for cloud in all_clouds().values():
        forms |= {kind: (cloud.name, pattern) for kind, pattern in cloud.principals.items()}
    return forms


def _help() -> str:
    said = [cloud.principals_help for cloud in all_clouds().values() if cloud.principals_help]
    return ", or ".join([", ".join(said[:-1]), said[-1]] if len(said) > 1 else said)


FORMS = _forms()  # kind -> (cloud, ECMA/Python-compatible pattern without anchors), each cloud's own
PATTERN = "^(?:" + "|".join(pattern for _, pattern in FORMS.values()) + ")$"
HELP = _help()


@dataclass(frozen=True)
class Principal:
    cloud: str  # the cloud's name (ec2, gce)
    kind: str  # account, organization, ou, member, domain
    value: str


def parse(text: str) -> Principal:
    for kind, (cloud, pattern) in FORMS.items():
        if re.fullmatch(pattern, text):
            return Principal(cloud, kind, text)
    raise ValueError(f"{text!r} is not {HELP}")


def profile_shares(data: dict[str, Any], command_line: Iterable[str | Principal] = ()) -> list[Principal]:
    """The profile's `image.share` (checked by the schema) and the command line's, once each, in order."""
    found: list[Principal] = []
    for text in [*data.get("image", {}).get("share", []), *command_line]:
        if isinstance(text, Principal):
            found += [text] if text not in found else []
            continue
        try:
            principal = parse(text)
        except ValueError as exc:
            raise UsageError(f"--share: {exc}") from None
        if principal not in found:
            found.append(principal)
    return found
