"""files: files written on the machine, from inline content or a file beside the profile."""

from __future__ import annotations

import base64
import hashlib
import posixpath
import re
from pathlib import Path
from typing import Any

from ..errors import Problem
from ..plan import Phase, Scope, Step
from ..templating import render
from ..yamlload import value_mark
from . import Context, problem, source_file, source_problems

KEY = "files"
# files have owners and may live in an env or on a mounted disk (not hidden under the mount)
AFTER = frozenset({"users", "secrets", "conda", "mounts"})
MAX_SOURCE_BYTES = 256 * 1024
OWNER = r"^[a-z_][a-z0-9_-]{0,31}(:[a-z_][a-z0-9_-]{0,31})?$"
SCHEMA: dict[str, Any] = {
    "type": "array",
    "x-merge-key": "path",
    "description": "Files to write. Written atomically and only when the content differs.",
    "examples": [[{"path": "/etc/motd", "content": "Welcome to the ML box\n", "mode": "0644"}]],
    "items": {
        "type": "object",
        "required": ["path"],
        "additionalProperties": False,
        "properties": {
            "path": {
                "type": "string",
                "pattern": r"^/[^\x00-\x1f]*[^/\x00-\x1f]$",
                "x-help": "an absolute path such as /etc/motd, not ending in '/'",
                "description": "Absolute path on the machine.",
                "examples": ["/etc/motd"],
            },
            "content": {
                "type": "string",
                "description": "Inline text, written byte for byte.",
                "examples": ["max_connections = 100\n"],
            },
            "source": {
                "type": "string",
                "minLength": 1,
                "description": "A file beside the profile (relative to the profile that names it), "
                "embedded at render time.",
                "examples": ["files/jupyter_config.py"],
            },
            "mode": {
                "type": "string",
                "pattern": r"^0?[0-7]{3,4}$",
                "x-help": "an octal mode in quotes, such as '0644'",
                "default": "0644",
                "description": "Permissions, octal, quoted.",
                "examples": ["0600"],
            },
            "owner": {
                "type": "string",
                "pattern": OWNER,
                "x-help": "user or user:group",
                "default": "root:root",
                "description": "Owner, user[:group]; a user from 'users' works.",
                "examples": ["alice:alice"],
            },
            "phase": {
                "enum": ["first_boot", "every_boot"],
                "default": "first_boot",
                "description": "first_boot writes once per instance; every_boot rewrites it each boot.",
                "examples": ["every_boot"],
            },
            "scope": {
                "enum": ["image", "instance"],
                "default": "image",
                "description": "image: a baked image carries it; instance: written on each new instance.",
                "examples": ["instance"],
            },
        },
    },
}


def _normalized(path: str) -> bool:
    return posixpath.normpath(path) == path and not path.startswith("//")


def _source_path(item: Any, context: Context) -> Path:
    return source_file(item, "source", context, "source file")


def check(config: list[Any], context: Context) -> list[Problem]:
    problems: list[Problem] = []
    for item in config:
        path = item["path"]
        if not _normalized(path):
            problems.append(
                problem(
                    item,
                    "path",
                    f"path {path!r} is not normalized",
                    f"write {posixpath.normpath(path)!r} (no '.', '..' or '//' parts)",
                )
            )
        has_content, has_source = "content" in item, "source" in item
        if has_content == has_source:
            problems.append(problem(item, "path", f"file {path}: give exactly one of 'content' or 'source'"))
        elif has_source:
            problems += source_problems(item, "source", context, "source file", MAX_SOURCE_BYTES,
                                        "fetch it at boot from object storage instead")  # fmt: skip
        if item["phase"] == "first_boot" and _on_tmpfs(path):
            problems.append(problem(item, "phase", f"file {path} is written once (phase first_boot), but "
                                    f"{_on_tmpfs(path)} is a tmpfs, emptied at every boot: the file is gone after "
                                    "the first reboot, and never written again", "set phase: every_boot"))
    from ._mount_rules import user_folder_problems

    return problems + user_folder_problems("file", config, getattr(context, "profile", None) or {})


def _on_tmpfs(path: str) -> str:
    """The tmpfs ``path`` lies in (memory: empty at each boot), or ""."""
    return next((fs for fs in ("/run", "/var/run", "/dev/shm") if path == fs or path.startswith(fs + "/")), "")


def _step_id(path: str, taken: set[str]) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", path.strip("/").lower()).strip("-.") or "root"
    candidate = f"file-{slug[:60]}"
    if candidate in taken or len(slug) > 60:
        candidate = f"file-{slug[:52]}-{hashlib.sha256(path.encode()).hexdigest()[:6]}"
    taken.add(candidate)
    return candidate


def steps(config: list[Any], context: Context) -> list[Step]:
    taken: set[str] = set()
    result = []
    for index, item in enumerate(config):
        path = item["path"]
        spec: dict[str, Any] = {"path": path, "mode": item["mode"], "owner": item["owner"]}
        if "content" in item:
            spec["text"] = item["content"]
        else:
            with _source_path(item, context).open("rb") as handle:
                data = handle.read(MAX_SOURCE_BYTES + 1)
            try:
                spec["text"] = data.decode("utf-8")
                if "\0" in spec["text"]:
                    raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL")
            except UnicodeDecodeError:
                spec["text"] = None
                spec["base64"] = base64.b64encode(data).decode()
        body = render("features/files/write.sh.j2", file=spec)
        result.append(
            Step(
                _step_id(path, taken),
                Phase(item["phase"]),
                Scope(item["scope"]),
                KEY,
                body,
                f"write {path}",
                origin=value_mark(config, index),
            )
        )
    return result
