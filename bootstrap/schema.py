"""The profile JSON Schema (Draft 2020-12), assembled from the features, and its error messages.

Each feature contributes the schema of its own key. Two extension keywords, ignored by JSON
Schema itself, carry what we need beyond validation:

* ``x-merge-key``: on an array of mappings, the field that identifies an item when profiles
  merge through ``extends`` (users by ``name``, files by ``path``);
* ``x-help``: for a ``pattern``, what a valid value looks like, in words.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from functools import cache
from typing import Any

from .errors import Problem
from .yamlload import mark_at

SCHEMA_ID = "https://bootstrap.dev/schema/profile.json"

NAME_PATTERN = "^[a-z0-9][a-z0-9-]{0,62}$"

# Keys people bring from cloud-init or older habits, and what to write instead.
RENAMED_KEYS = {
    "runcmd": "commands.first_boot (cloud-init's runcmd runs once per instance)",
    "bootcmd": "commands.every_boot",
    "write_files": "files",
    "apt_packages": "packages",
    "package": "packages",
    "environment": "env",
    "user": "users",
    "ssh_keys": "users[].ssh_authorized_keys",
    "ssh_authorized_keys": "users[].ssh_authorized_keys",
    "extend": "extends",
    "inherits": "extends",
}


@cache
def profile_schema() -> dict[str, Any]:
    from . import distro
    from .clouds import sharing
    from .features import all_features

    properties: dict[str, Any] = {
        "name": {
            "type": "string",
            "pattern": NAME_PATTERN,
            "x-help": "lowercase letters, digits and '-', starting with a letter or digit",
            "description": "The profile's name; images and status files carry it.",
            "examples": ["gpu-pytorch"],
        },
        "description": {
            "type": "string",
            "description": "One line for `bootstrap list` and reviewers.",
            "examples": ["GPU box with PyTorch and a persistent data disk"],
        },
        "abstract": {
            "type": "boolean",
            "description": "Only a parent for others to extend: `bake` and `rebuild` never build it (not inherited).",
            "examples": [True],
        },
        "extends": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "description": "Profiles this one builds on, by name (beside this file, then built-in) or "
            "relative path. Later entries and this profile win.",
            "examples": [["base"]],
        },
    }
    properties["distro"] = distro.schema()
    properties["image"] = {
        "type": "object",
        "additionalProperties": False,
        "description": "What `bake` does with the golden image beyond building it (not the machine's content: "
        "it never changes the image hash).",
        "properties": {
            "share": {
                "type": "array",
                "items": {"type": "string", "pattern": sharing.PATTERN, "x-help": sharing.HELP},
                "description": "Who may launch the image: EC2 accounts, organizations and OUs (launch permission "
                "on the AMI, create-volume permission on its snapshots for accounts, in every region it is "
                "copied to), GCE IAM members. Each backend takes its own cloud's; `bake --share` adds more.",
                "examples": [["123456789012", "arn:aws:organizations::123456789012:organization/o-a1b2c3d4e5"]],
            }
        },
        "examples": [{"share": ["123456789012"]}],
    }
    for feature in all_features():
        properties[feature.KEY] = feature.SCHEMA
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "bootstrap profile",
        "description": "A declarative description of a cloud machine's startup: packages, users, files, "
        "commands and data-science features, run in first-boot and every-boot phases.",
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": properties,
    }


def schema_json() -> str:
    return json.dumps(profile_schema(), indent=2, sort_keys=False) + "\n"


def ecma_pattern(pattern: str) -> re.Pattern[str]:
    r"""``pattern`` with JSON Schema's (ECMA-262) meaning in Python's ``re``.

    ECMA's ``$`` matches only at the very end; Python's also before a final newline, so
    ``alice\n`` would pass ``^[a-z]+$`` and then break the line of fstab or script it lands in.
    Every unescaped ``$`` outside a character class becomes ``\Z``; ``\d``, ``\w`` and ``\s``
    are ASCII as in ECMA without the ``u`` flag. The published schema keeps ``$``: editors are ECMA.
    """
    out, in_class, escaped = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            char = "\\Z"
        out.append(char)
    return re.compile("".join(out), re.ASCII)


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Any:
    from jsonschema import ValidationError

    if validator.is_type(instance, "string") and not _compiled(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_compiled = cache(ecma_pattern)


def _is_integer(checker: Any, instance: Any) -> bool:
    # JSON Schema counts 60.0 as an integer; templates would print "3600.0". Only real ints are.
    return isinstance(instance, int) and not isinstance(instance, bool)


@cache
def validator_class() -> Any:
    """Draft 2020-12 with ECMA patterns and integers that are ints."""
    from jsonschema import Draft202012Validator, validators

    checker = Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer)
    return validators.extend(Draft202012Validator, {"pattern": _pattern}, type_checker=checker)


@cache
def _validator() -> Any:
    return validator_class()(profile_schema())


def subschema(schema: dict[str, Any] | None, key: Any) -> dict[str, Any] | None:
    """The schema of ``value[key]`` given the schema of ``value`` (no $ref in our schema)."""
    if not isinstance(schema, dict):
        return None
    if isinstance(key, int):
        items = schema.get("items")
        return items if isinstance(items, dict) else None
    props = schema.get("properties", {})
    if key in props:
        return props[key]
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def apply_defaults(value: Any, schema: dict[str, Any] | None = None) -> None:
    """Fill in, in place, every ``default`` the schema declares for a key ``value`` lacks: the one
    place defaults live, so features read ``item["mode"]`` instead of repeating them. Follows
    ``properties``, ``items``, the variant of ``anyOf``/``oneOf`` the value matches and the ``then``
    of each ``allOf`` entry whose ``if`` it matches (defaults that depend on a sibling, e.g. a mount's
    type). Call it on valid data only."""
    schema = profile_schema() if schema is None else schema
    if isinstance(value, list):
        items = schema.get("items")
        for item in value if isinstance(items, dict) else []:
            apply_defaults(item, items)
        return
    if not isinstance(value, dict):
        return
    is_valid = validator_class()
    for name, node in schema.get("properties", {}).items():
        if name not in value and "default" in node:
            value[name] = copy.deepcopy(node["default"])
        if name in value:
            apply_defaults(value[name], node)
    for variant in [*schema.get("anyOf", []), *schema.get("oneOf", [])]:
        if is_valid(variant).is_valid(value):
            apply_defaults(value, variant)
            break
    for entry in schema.get("allOf", []):
        if "if" in entry and is_valid(entry["if"]).is_valid(value):
            apply_defaults(value, entry.get("then", {}))


def validate(data: Any) -> list[Problem]:
    """Every schema problem of ``data`` (marked YAML), located and explained."""
    problems: list[Problem] = []
    for error in _validator().iter_errors(data):
        problems.extend(_explain(error, data))
    return problems


def _display(path: list[Any]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text or "the profile"


_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}


def type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _colon_hint(value: Any) -> str | None:
    """A one-key mapping where text was wanted is, nearly always, a ': ' inside an unquoted command."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    key, inner = next(iter(value.items()))
    return f"YAML read the ': ' in it as a key and its value ({key!r}: {inner!r}): quote the whole command, " \
           "e.g. 'echo a: b'"


def article(noun: str) -> str:
    """'a string', 'an integer', 'a mapping or an integer'."""
    return " or ".join(f"{'an' if word[:1] in 'aeiou' else 'a'} {word}" for word in noun.split(" or "))


def suggest(word: str, choices: Any) -> str | None:
    match = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return match[0] if match else None


def _explain(error: Any, root: Any) -> list[Problem]:
    path = list(error.absolute_path)
    where = _display(path)
    kind, schema, value = error.validator, error.schema, error.instance
    if kind == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        problems = []
        for extra in sorted(set(value) - set(allowed)):
            hint = None
            if not path and extra in RENAMED_KEYS:
                hint = f"write {RENAMED_KEYS[extra]} instead"
            elif close := suggest(extra, allowed):
                hint = f"did you mean {close!r}?"
            else:
                hint = "known keys: " + ", ".join(allowed)
            problems.append(Problem(f"unknown key {extra!r} in {where}", mark_at(root, [*path, extra], key=True), hint))
        return problems
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [Problem(f"{where} is missing required key {missing!r}", mark_at(root, path))]
    in_key = "propertyNames" in error.relative_schema_path
    if in_key:  # a mapping key failed: point at the key, name it
        mark = mark_at(root, [*path, value], key=True)
        where = f"key {value!r} in {where}"
    else:
        mark = mark_at(root, path)
    if kind == "type":
        expected = schema["type"] if isinstance(schema["type"], str) else " or ".join(schema["type"])
        expected = {"object": "mapping", "array": "list"}.get(expected, expected)
        hint = None
        if expected == "string" and isinstance(value, bool | int | float):
            hint = f"YAML read this as {article(type_name(value))}; put it in quotes to keep it as text"
        elif expected == "string":
            hint = _colon_hint(value)
        elif expected == "integer" and isinstance(value, float) and value.is_integer():
            hint = f"write {int(value)}, without the decimal point"
        if value is None:  # `key:` with nothing after it, or `--set key=null`
            return [Problem(f"{where}: expected {article(expected)}, got nothing (null)", mark,
                            "leave it out (a key left out takes its default), or quote 'null' to mean the text")]
        return [Problem(f"{where}: expected {article(expected)}, got {type_name(value)} {value!r}", mark, hint)]
    if kind == "pattern":
        what = schema.get("x-help", f"must match {schema['pattern']}")
        if schema.get("x-sensitive"):  # it may be the secret itself: not into a terminal or a CI log
            return [Problem(f"{where}: not valid ({what}); its value is not shown, in case it is the secret", mark)]
        return [Problem(f"{where}: {value!r} is not valid ({what})", mark)]
    if kind == "enum":
        options = schema["enum"]
        close = suggest(str(value), options)
        hint = f"did you mean {close!r}?" if close else None
        if not isinstance(value, str) and str(value) in options:  # driver: 550 is a number to YAML
            hint = f"YAML read {value!r} as a number: quote it, '{value}'"
        elif isinstance(value, bool):  # restart: no is false to YAML 1.1 (yes, no, on, off, y, n)
            words = {True: ("yes", "on", "true", "y"), False: ("no", "off", "false", "n")}[value]
            meant = next((o for o in options if isinstance(o, str) and o.lower() in words), None)
            if meant:
                hint = f"YAML read an unquoted {meant} as {str(value).lower()}: quote it, '{meant}'"
        return [Problem(f"{where}: {value!r} is not one of {', '.join(map(repr, options))}", mark, hint)]
    if kind in ("anyOf", "oneOf"):
        what = schema.get("x-help") or "a value of another shape"
        return [Problem(f"{where}: expected {what}, got {type_name(value)}", mark, _colon_hint(value))]
    if kind == "not" and "x-help" in schema:
        return [Problem(f"{where}: {schema['x-help']}", mark)]
    return [Problem(f"{where}: {error.message}", mark)]
