"""secrets: references to secret managers, resolved at boot with the instance's own identity.

A profile never holds a secret value: user data and metadata are readable by anyone on the
machine and by anyone with describe rights. Each entry names a reference; on every boot the
step fetches it into a file (default under /run, a tmpfs: never written to disk or baked into
an image), mode 0600, and never prints it.
"""

from __future__ import annotations

from typing import Any

from .. import layout
from ..errors import Problem
from ..plan import Phase, Scope, Step
from ..templating import render
from . import Needs, aws_cli, named
from .files import OWNER

KEY = "secrets"
AFTER = frozenset({"users", "mounts"})  # secrets have owners and may be written on a mounted disk
REFERENCE = (
    r"^(aws-ssm:/[A-Za-z0-9_.\-/]+"
    r"|aws-secretsmanager:[A-Za-z0-9/_+=.@\-]+"
    r"|gcp-secretmanager:projects/[a-z0-9\-]+/secrets/[A-Za-z0-9_\-]+/versions/([0-9]+|latest))$"
)
SCHEMA: dict[str, Any] = {
    "type": "array",
    "x-merge-key": "name",
    "description": "Secrets fetched at every boot from AWS SSM Parameter Store, AWS Secrets Manager or GCP "
    "Secret Manager into files (mode 0600), with the instance's own credentials (instance profile / service "
    "account). Values never appear in user data, logs or the console.",
    "examples": [[{"name": "hf-token", "from": "aws-ssm:/team/hf-token"}]],
    "items": {
        "type": "object",
        "required": ["name", "from"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9._-]{0,62}$",
                     "x-help": "lowercase letters, digits, '.', '_' and '-'",
                     "description": f"File name under {layout.SECRETS_DIR}/.", "examples": ["hf-token"]},
            "from": {"type": "string", "pattern": REFERENCE,
                     "x-help": "a reference such as aws-ssm:/team/token, aws-secretsmanager:prod/db or "
                     "gcp-secretmanager:projects/P/secrets/S/versions/latest; never the secret itself",
                     "x-sensitive": True,  # a value that is not a reference may be the secret: never echoed
                     "description": "Where the secret lives.", "examples": ["aws-ssm:/team/hf-token"]},
            "path": {"type": "string", "pattern": r"^/[^\x00-\x1f]*[^/\x00-\x1f]$", "x-help": "an absolute path",
                     "description": "Write here instead (consider what persists on disk).",
                     "examples": ["/etc/jupyter/token"]},
            "owner": {"type": "string", "pattern": OWNER, "x-help": "user or user:group", "default": "root:root",
                      "description": "Who may read it.", "examples": ["alice"]},
            "mode": {"enum": ["0400", "0440", "0600", "0640"], "default": "0600",
                     "description": "Permissions.", "examples": ["0440"]},
        },
    },
}  # fmt: skip


def secret_path(item: dict[str, Any]) -> str:
    return layout.secret_path(item["name"], item.get("path"))


def check(config: list[dict[str, Any]], context: Any) -> list[Problem]:
    from ._mount_rules import user_folder_problems

    return user_folder_problems("secret", config, getattr(context, "profile", None) or {})


def steps(config: list[dict[str, Any]], context: Any) -> list[Step]:
    if not config:
        return []
    secrets = [
        {"name": s["name"], "kind": s["from"].split(":", 1)[0], "ref": s["from"].split(":", 1)[1],
         "path": secret_path(s), "owner": s["owner"], "mode": s["mode"]}
        for s in sorted(config, key=lambda s: s["name"])
    ]  # fmt: skip
    body = render("features/secrets/fetch.sh.j2", secrets=secrets, **aws_cli(context))
    what = "fetch " + named("secret", "secrets", [s["name"] for s in secrets])
    return [Step("secrets", Phase.EVERY_BOOT, Scope.INSTANCE, KEY, body, what,
                 cost="network")]  # fmt: skip


SOURCES = {"aws-ssm": "AWS SSM Parameter Store", "aws-secretsmanager": "AWS Secrets Manager",
           "gcp-secretmanager": "GCP Secret Manager"}  # fmt: skip


def needs(config: list[dict[str, Any]]) -> Needs:
    kinds = sorted({secret["from"].split(":", 1)[0] for secret in config})
    return Needs(cloud=tuple(f"secrets: the instance metadata service and {SOURCES.get(k, k)}" for k in kinds))
