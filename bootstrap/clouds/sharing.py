"""Who a golden image is shared with: EC2 account ids, organization and OU ARNs; GCE IAM members.

One pattern per form, used by the profile schema (`image.share`, so a malformed entry is exit 2 at its
line) and by `bake --share` alike; each backend takes the principals of its own cloud.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import UsageError

_PARTITION = r"arn:aws(?:-cn|-us-gov)?:organizations::[0-9]{12}:"
FORMS = {  # kind -> (cloud, ECMA/Python-compatible pattern without anchors)
    "account": ("ec2", r"[0-9]{12}"),
    "organization": ("ec2", _PARTITION + r"organization/o-[a-z0-9]{10,32}"),
    "ou": ("ec2", _PARTITION + r"ou/o-[a-z0-9]{10,32}/ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}"),
    "member": ("gce", r"(?:user|group|serviceAccount):[^@\s:]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"),
    "domain": ("gce", r"domain:[a-z0-9-]+(?:\.[a-z0-9-]+)+"),
}
PATTERN = "^(?:" + "|".join(pattern for _, pattern in FORMS.values()) + ")$"
HELP = ("an EC2 account id (12 digits), an organization ARN (arn:aws:organizations::ACCOUNT:organization/o-...), "
        "an OU ARN (...:ou/o-.../ou-...), or a GCE IAM member (user:, group:, serviceAccount: EMAIL, or "
        "domain:DOMAIN)")  # fmt: skip


@dataclass(frozen=True)
class Principal:
    cloud: str  # ec2 or gce
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
