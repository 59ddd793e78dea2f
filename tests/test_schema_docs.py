"""The published schema and the reference page stay in step with the code; every field is documented."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from bootstrap.schema import profile_schema, schema_json
from bootstrap.schema_doc import markdown

REPO = Path(__file__).resolve().parent.parent
SCHEMA_FILE = REPO / "schema" / "profile.schema.json"
REFERENCE = REPO / "docs" / "profiles.md"


def test_the_published_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text() == schema_json(), (
        "schema/profile.schema.json is stale: bootstrap schema > schema/profile.schema.json"
    )


def test_the_reference_page_is_current() -> None:
    assert REFERENCE.read_text() == markdown(profile_schema()), (
        "docs/profiles.md is stale: bootstrap schema --markdown > docs/profiles.md"
    )


def properties(node: Any, path: str = "") -> Iterator[tuple[str, dict]]:
    if not isinstance(node, dict):
        return
    for name, sub in node.get("properties", {}).items():
        yield f"{path}.{name}", sub
        yield from properties(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from properties(node["items"], path + "[]")
    for variant in node.get("anyOf", []):
        yield from properties(variant, path)


ALL = list(properties(profile_schema()))


def test_there_are_many_fields_to_check() -> None:
    assert len(ALL) > 100


@pytest.mark.parametrize(("path", "node"), ALL, ids=[p for p, _ in ALL])
def test_every_field_has_a_description_and_a_valid_example(path: str, node: dict) -> None:
    assert node.get("description"), f"{path}: no description"
    assert node.get("examples"), f"{path}: no example"
    subschema = {k: v for k, v in node.items() if not k.startswith("x-")}
    errors = [e.message for example in node["examples"] for e in Draft202012Validator(subschema).iter_errors(example)]
    assert not errors, f"{path}: its example does not validate: {errors}"


PROFILE_FILES = sorted([*REPO.glob("profiles/*.yaml"), *REPO.glob("examples/**/profiles/*.yaml")])


@pytest.mark.parametrize("path", PROFILE_FILES, ids=[p.name for p in PROFILE_FILES])
def test_profiles_point_editors_at_the_schema(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema="), f"{path}: no schema line"
    target = (path.parent / first.split("=", 1)[1]).resolve()
    # An example is a team's repository: its schema travels with it when the folder is copied out.
    expected = SCHEMA_FILE if path.is_relative_to(REPO / "profiles") else _example_root(path) / "profile.schema.json"
    assert target == expected and target.read_text() == SCHEMA_FILE.read_text(), (
        f"{target} is stale: bootstrap schema > {target.relative_to(REPO)}")
    assert json.loads(target.read_text())["$schema"].startswith("https://json-schema.org")


def _example_root(path: Path) -> Path:
    """examples/NAME/ of a profile under examples/NAME/profiles/."""
    return REPO / "examples" / path.relative_to(REPO / "examples").parts[0]
