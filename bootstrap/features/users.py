"""users: accounts, groups, sudo rights (image scope) and SSH keys (instance scope)."""

from __future__ import annotations

from typing import Any

from ..errors import Problem
from ..plan import Phase, Scope, Step
from ..templating import render
from ..wording import count
from . import problem

KEY = "users"
AFTER = frozenset({"packages", "nvidia"})  # supplementary groups may come from packages (docker, video)
USER_PATTERN = r"^[a-z_][a-z0-9_-]{0,31}$"
NAME_HELP = "lowercase letters, digits, '_' and '-', starting with a letter or '_', at most 32 characters"
EXAMPLE_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBexampleexampleexampleexample0 alice@laptop"
SCHEMA: dict[str, Any] = {
    "type": "array",
    "x-merge-key": "name",
    "description": "Local accounts. Existing accounts are updated (groups added, shell set), never deleted.",
    "examples": [
        [
            {
                "name": "alice",
                "groups": ["docker"],
                "sudo": True,
                "ssh_authorized_keys": [EXAMPLE_KEY],
            }
        ]
    ],
    "items": {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {
            "name": {
                "type": "string",
                "pattern": USER_PATTERN,
                "x-help": NAME_HELP,
                "description": "Login name.",
                "examples": ["alice"],
            },
            "groups": {
                "type": "array",
                "uniqueItems": True,
                "items": {"type": "string", "pattern": USER_PATTERN, "x-help": NAME_HELP},
                "description": "Supplementary groups, created when missing.",
                "examples": [["docker"]],
            },
            "sudo": {
                "type": "boolean",
                "default": False,
                "description": "Password-less sudo through /etc/sudoers.d/.",
                "examples": [True],
            },
            "shell": {
                "type": "string",
                "pattern": r"^/[A-Za-z0-9_./+-]+$",
                "x-help": "an absolute path",
                "default": "/bin/bash",
                "description": "Login shell.",
                "examples": ["/bin/bash"],
            },
            "uid": {
                "type": "integer",
                "minimum": 1000,
                "maximum": 60000,
                "description": "Fixed uid, so files on shared disks keep their owner.",
                "examples": [2001],
            },
            "ssh_authorized_keys": {
                "type": "array",
                "items": {
                    "type": "string",
                    "pattern": r"^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+) "
                    r"[A-Za-z0-9+/=]+( [^\n\r]*)?$",
                    "x-help": "one OpenSSH public key line: TYPE BASE64 [comment]",
                },
                "description": "Public keys for ~/.ssh/authorized_keys (instance scope; other keys kept).",
                "examples": [[EXAMPLE_KEY]],
            },
        },
    },
}


# cloud-init's default user (admin on Debian's cloud images, ubuntu on Ubuntu's, ec2-user on Amazon
# Linux) is the first account it makes, before any bootstrap step: it gets the first uid, 1000.
DEFAULT_USER_UID = 1000
# Groups Debian's and Ubuntu's base systems have without an account of that name (base-passwd, systemd,
# udev): useradd cannot make one (root, daemon, mail... are accounts: the users step only updates them).
SYSTEM_GROUPS = frozenset({
    "adm", "tty", "disk", "kmem", "dialout", "fax", "voice", "cdrom", "floppy", "tape", "sudo", "audio", "dip",
    "operator", "src", "shadow", "utmp", "video", "sasl", "plugdev", "staff", "users", "nogroup", "input", "kvm",
    "render", "netdev", "systemd-journal",
})


def check(config: list[dict[str, Any]], context: Any) -> list[Problem]:
    from .mounts import DEFAULT_USERS

    problems = []
    seen: dict[int, str] = {}
    listed = {group for user in config for group in user.get("groups") or []}
    for user in config:
        if user["name"] in listed or user["name"] in SYSTEM_GROUPS:
            problems.append(problem(user, "name", f"{user['name']!r} is also a group ("
                                    + ("another account's groups: list it" if user["name"] in listed else
                                       "one every Debian and Ubuntu system has") + "): useradd makes each account a "
                                    "group of its own name and refuses to when that group exists, and the boot "
                                    "stops at the users step", "name the account otherwise"))  # fmt: skip
    for user in config:
        uid = user.get("uid")
        if uid is None:
            continue
        if user["name"] == "root":
            problems.append(problem(user, "uid", "root's uid is 0 on every machine: useradd never renumbers it, "
                                    "and the boot stops at the users step", "leave out uid: for root"))
        elif user["name"] in DEFAULT_USERS and uid != DEFAULT_USER_UID:
            problems.append(problem(user, "uid", f"{user['name']} is a cloud image's default user, which cloud-init "
                                    f"makes with uid {DEFAULT_USER_UID} before the users step: bootstrap does not "
                                    "renumber an account, and the boot stops there",
                                    f"leave out uid: for {user['name']}, or name the account otherwise"))  # fmt: skip
        elif uid == DEFAULT_USER_UID and user["name"] not in DEFAULT_USERS:
            problems.append(problem(user, "uid", f"uid {uid} is the cloud's default user's (admin, ubuntu or ec2-user, "
                                    "which cloud-init makes before the users step): useradd refuses a uid that is "
                                    f"taken, and the boot stops there", "pick a uid from 2000 up, the same on "
                                    "every machine that shares the disk"))  # fmt: skip
        elif uid in seen:
            problems.append(problem(user, "uid", f"uid {uid} is also {seen[uid]}'s: two accounts cannot share it",
                                    "give each account its own uid"))  # fmt: skip
        seen.setdefault(uid, user["name"])
    return problems


def steps(config: list[dict[str, Any]], context: Any) -> list[Step]:
    users = [
        {
            "name": u["name"],
            "groups": sorted(u.get("groups", [])),
            "sudo": u["sudo"],
            "shell": u["shell"],
            "uid": u.get("uid"),
            "keys": list(u.get("ssh_authorized_keys", [])),
        }
        for u in sorted(config, key=lambda u: u["name"])
    ]
    if not users:
        return []
    result = [
        Step(
            "users",
            Phase.FIRST_BOOT,
            Scope.IMAGE,
            KEY,
            render("features/users/accounts.sh.j2", users=users),
            f"create {len(users)} account{'s' if len(users) != 1 else ''}",
        )
    ]
    with_keys = [u for u in users if u["keys"]]
    if with_keys:
        result.append(
            Step(
                "ssh-keys",
                Phase.FIRST_BOOT,
                Scope.INSTANCE,
                KEY,
                render("features/users/ssh_keys.sh.j2", users=with_keys),
                f"authorize SSH keys for {count(len(with_keys), 'account')}",
            )
        )
    return result
