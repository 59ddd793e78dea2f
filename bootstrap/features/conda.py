"""conda: micromamba (pinned, checksum-verified) under /opt/conda, and declared environments.

An environment is (re)built only when its spec's hash changed (the hash is kept in the env), so a
boot with nothing new is cheap. Specs: inline, an environment.yml or explicit lock file beside
the profile (embedded), or a URL fetched at boot (https://, s3://, gs://) with the machine's own
credentials. Image scope: a baked image carries the environments.
"""

from __future__ import annotations

import hashlib
from typing import Any

import yaml

from .. import layout
from ..boundary import read_text
from ..errors import Problem
from ..plan import Phase, Scope, Step
from ..templating import render
from ..yamlload import plain
from . import Context, Needs, describe, named, problem, source_file, source_problems
from .users import NAME_HELP, USER_PATTERN

KEY = "conda"
# envs have owners, may fetch with a secret (pip.conf) and may live on a mounted disk
AFTER = frozenset({"users", "secrets", "mounts"})
PREFIX = layout.CONDA_PREFIX
# micromamba-releases 2.0.5-0, linux-64, as pinned in public build scripts.
MICROMAMBA = {"version": "2.0.5-0", "sha256": "cdf5a2e18d213617b6c5c32d8763b4e8fc05f8173b4f4017997683cb984357eb"}
_ENV_NAME = {
    "type": "string",
    "pattern": r"^[a-z0-9][a-z0-9_-]{0,40}$",
    "x-help": "lowercase letters, digits, '_', '-'",
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["environments"],
    "additionalProperties": False,
    "description": "micromamba under /opt/conda and declared environments, rebuilt only when their spec changes.",
    "examples": [{"environments": [{"name": "ds", "spec": {"dependencies": ["python=3.11", "pandas", "ipykernel"]},
                                    "kernel": True}]}],
    "properties": {
        "micromamba": {"type": "object", "required": ["version", "sha256"], "additionalProperties": False,
                       "description": "Another micromamba release, with its sha256.", "default": MICROMAMBA,
                       "properties": {"version": {"type": "string", "pattern": r"^[0-9][0-9a-z.-]*$",
                                                  "x-help": "a release tag such as 2.0.5-0"},
                                      "sha256": {"type": "string", "pattern": r"^[0-9a-f]{64}$",
                                                 "x-help": "64 hex digits"}}},
        "channels": {"type": "array", "items": {"type": "string", "pattern": r"^[A-Za-z0-9_.:/-]+$",
                     "x-help": "a channel name or URL"}, "default": ["conda-forge"],
                     "description": "Channels for inline specs."},
        "group": {"type": "string", "pattern": USER_PATTERN, "x-help": NAME_HELP,
                  "description": "Make environments group-writable for this group (shared team envs)."},
        "environments": {
            "type": "array",
            "x-merge-key": "name",
            "items": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {
                    "name": _ENV_NAME,
                    "spec": {"type": "object", "description": "Inline environment.yml content."},
                    "file": {"type": "string", "minLength": 1, "description": "environment.yml beside the profile."},
                    "lock": {"type": "string", "minLength": 1, "description": "Explicit lock file beside the profile."},
                    "url": {"type": "string", "pattern": r"^(https|s3|gs)://[^\s'\"]+$",
                            "x-help": "an https://, s3:// or gs:// URL", "description": "Spec fetched at boot."},
                    "kernel": {"type": "boolean", "default": False, "description": "Register as a Jupyter kernel."},
                    "display_name": {"type": "string", "description": "Kernel display name."},
                },
            },
        },
    },
}  # fmt: skip
describe(
    SCHEMA["properties"],
    {
        "micromamba": ("Another micromamba release, with its sha256.", MICROMAMBA),
        "channels": ("Channels for inline specs.", ["conda-forge"]),
        "group": ("Make environments group-writable for this group (shared team envs).", "data-team"),
        "environments": (
            "Environments, each from exactly one of spec, file, lock or url.",
            [{"name": "ds", "spec": {"dependencies": ["python=3.11", "pandas"]}}],
        ),
    },
)
describe(
    SCHEMA["properties"]["micromamba"]["properties"],
    {
        "version": ("A micromamba-releases tag.", MICROMAMBA["version"]),
        "sha256": ("The sha256 of its linux-64 binary.", MICROMAMBA["sha256"]),
    },
)
describe(
    SCHEMA["properties"]["environments"]["items"]["properties"],
    {
        "name": ("Environment name: /opt/conda/envs/NAME.", "ds"),
        "spec": ("Inline environment.yml content.", {"dependencies": ["python=3.11", "pandas", "ipykernel"]}),
        "file": ("environment.yml beside the profile (embedded).", "environment.yml"),
        "lock": ("Explicit lock file beside the profile (embedded).", "conda-linux-64.lock"),
        "url": ("Spec fetched at boot with the machine's own credentials.", "s3://team-config/envs/ds.yml"),
        "kernel": ("Register as a Jupyter kernel (needs ipykernel in the environment).", True),
        "display_name": ("Kernel display name.", "Python (ds)"),
    },
)
SOURCES = ("spec", "file", "lock", "url")
MAX_SPEC_BYTES = 256 * 1024


def check(config: dict[str, Any], context: Context) -> list[Problem]:
    problems = []
    for env in config["environments"]:
        given = [s for s in SOURCES if s in env]
        if len(given) != 1:
            problems.append(problem(env, "name", f"environment {env['name']!r}: give exactly one of "
                                    + ", ".join(SOURCES)))  # fmt: skip
        for key in ("file", "lock"):
            if key in env:
                problems += source_problems(env, key, context, f"conda {key}", MAX_SPEC_BYTES,
                                            "use 'url:' to fetch it at boot")  # fmt: skip
    return problems


def _spec(env: dict[str, Any], channels: list[str], context: Context) -> tuple[str, str]:
    """(kind, text) of an embedded spec: 'yaml' or 'lock'."""
    if "spec" in env:
        spec = {"name": env["name"], "channels": channels, **plain(env["spec"])}
        return "yaml", yaml.safe_dump(spec, sort_keys=False, default_flow_style=False)
    key = "file" if "file" in env else "lock"
    path = source_file(env, key, context, f"conda {key}")
    text = read_text(path, str(env[key]))  # a Latin-1 file is a located error, not a traceback
    return ("lock" if key == "lock" else "yaml"), text


def steps(config: dict[str, Any], context: Context) -> list[Step]:
    channels = list(config["channels"])
    envs = []
    for env in sorted(config["environments"], key=lambda e: e["name"]):
        entry = {
            "name": env["name"],
            "kernel": "yes" if env["kernel"] else "no",
            "display_name": env.get("display_name", f"Python ({env['name']})"),
            "url": env.get("url", ""),
            "kind": "yaml",
        }
        if not entry["url"]:
            entry["kind"], entry["text"] = _spec(env, channels, context)
            entry["hash"] = hashlib.sha256(entry["text"].encode()).hexdigest()
        entry["spec_file"] = env["name"] + ("-lock.txt" if entry["kind"] == "lock" else ".yml")  # under specs/
        envs.append(entry)  # fmt: skip
    settings = {"prefix": PREFIX, "micromamba": config["micromamba"], "group": config.get("group", "")}
    what = "micromamba and " + named("environment", "environments", [e["name"] for e in envs])
    result = [Step("conda", Phase.FIRST_BOOT, Scope.IMAGE, KEY, render("features/conda/install.sh.j2", envs=envs,
                                                                       **settings), what, cost="heavy")]  # fmt: skip
    if any(e["url"] for e in envs):
        result.append(Step("conda-refresh", Phase.EVERY_BOOT, Scope.INSTANCE, KEY,
                           render("features/conda/refresh.sh.j2", envs=[e for e in envs if e["url"]], **settings),
                           "rebuild environments whose fetched spec changed", cost="network"))  # fmt: skip
    return result


def needs(config: dict[str, Any]) -> Needs:
    return Needs(internet=("conda: micromamba from GitHub's releases and packages from the conda channels",))
