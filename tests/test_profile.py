"""Loading profiles: marks, extends and merge rules, overrides, and located error messages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bootstrap.errors import ProfileError, UsageError
from bootstrap.profile import load_profile
from bootstrap.schema import profile_schema
from bootstrap.yamlload import load_text


def problems_of(reference, *overrides) -> list[str]:
    with pytest.raises(ProfileError) as caught:
        load_profile(str(reference), list(overrides))
    return [str(p) for p in caught.value.problems]


def test_marks_survive_loading() -> None:
    data = load_text("name: a\nusers:\n  - name: bob\n", "p.yaml")
    assert str(data.value_marks["name"]) == "p.yaml:1:7"
    assert str(data["users"].item_marks[0]) == "p.yaml:3:5"
    assert str(data["users"][0].key_marks["name"]) == "p.yaml:3:5"


def test_unknown_key_suggests_close_match(write_profile) -> None:
    path = write_profile("name: x\npakages: [htop]\n")
    [message] = problems_of(path)
    assert message.startswith(f"{path}:2:1: error: unknown key 'pakages' in the profile")
    assert "did you mean 'packages'?" in message


def test_cloud_init_habits_get_a_translation(write_profile) -> None:
    [message] = problems_of(write_profile("name: x\nruncmd: [ls]\n"))
    assert "write commands.first_boot" in message


def test_all_errors_reported_at_once_in_file_order(write_profile) -> None:
    path = write_profile("""\
        name: Bad_Name
        packages: [htop, "bad pkg"]
        users:
          - name: alice
            sudo: "yes"
        timezone: 5
        """)
    messages = problems_of(path)
    assert [m.split(": error")[0] for m in messages] == [f"{path}:1:7", f"{path}:2:18", f"{path}:5:11", f"{path}:6:11"]
    assert "'Bad_Name' is not valid (lowercase letters" in messages[0]
    assert "expected a boolean, got string 'yes'" in messages[2]
    assert "put it in quotes" in messages[3]


def test_set_null_unsets_a_key_as_a_child_profile_s_null_does(write_profile) -> None:
    path = write_profile("name: x\ntimezone: Europe/Paris\n")
    assert "timezone" not in load_profile(str(path), ["timezone=null"]).data
    assert "timezone" not in load_profile(str(write_profile("name: x\ntimezone:\n", "empty.yaml"))).data


def test_a_null_list_item_says_nothing_was_given_not_none(write_profile) -> None:
    [message] = problems_of(write_profile("name: x\npackages: [git]\n"), "packages.0=null")
    assert "expected a string, got nothing (null)" in message and "None" not in message
    assert "leave it out" in message


def test_float_version_hint(write_profile) -> None:
    [message] = problems_of(write_profile("name: x\nhostname: 12.10\n"))
    assert "expected a string, got number 12.1" in message and "quotes" in message


def test_extends_merge_rules(write_profile) -> None:
    write_profile(
        """\
        name: parent
        description: parent's
        timezone: UTC
        packages: [git, htop]
        env: {A: "1", B: "2"}
        users:
          - {name: alice, groups: [adm], shell: /bin/sh}
          - {name: bob}
        files:
          - {path: /etc/a, content: parent}
        """,
        "parent.yaml",
    )
    child = write_profile("""\
        name: child
        extends: [parent]
        timezone: Europe/Paris
        packages: [htop, jq]
        env: {B: "two", C: "3"}
        users:
          - {name: alice, groups: [docker]}
          - {name: carol}
        files:
          - {path: /etc/a, content: child}
        """)
    data = load_profile(str(child)).data
    assert data["name"] == "child" and "description" not in data  # name/description are not inherited
    assert data["timezone"] == "Europe/Paris"
    assert data["packages"] == ["git", "htop", "jq"]
    assert data["env"] == {"A": "1", "B": "two", "C": "3"}
    assert [u["name"] for u in data["users"]] == ["alice", "bob", "carol"]
    assert data["users"][0] == {"name": "alice", "groups": ["adm", "docker"], "shell": "/bin/sh", "sudo": False}
    assert [(f["path"], f["content"]) for f in data["files"]] == [("/etc/a", "child")]


def test_null_removes_an_inherited_key(write_profile) -> None:
    write_profile("name: parent\ntimezone: UTC\n", "parent.yaml")
    data = load_profile(str(write_profile("name: c\nextends: [parent]\ntimezone: null\n"))).data
    assert "timezone" not in data


def test_error_in_parent_points_into_parent(write_profile) -> None:
    parent = write_profile("name: parent\npackages: [ok, 'NOT OK']\n", "parent.yaml")
    [message] = problems_of(write_profile("name: child\nextends: [parent]\n"))
    assert message.startswith(f"{parent}:2:")


def test_extends_builtin_and_relative_path(write_profile) -> None:
    write_profile("name: shared\npackages: [jq]\n", "team/shared.yaml")
    child = write_profile("name: c\nextends: [base, team/shared.yaml]\n")
    data = load_profile(str(child)).data
    assert "curl" in data["packages"] and "jq" in data["packages"]


def test_missing_parent_suggests(write_profile) -> None:
    [message] = problems_of(write_profile("name: c\nextends: [bsae]\n"))
    assert "profile 'bsae' not found" in message and "did you mean 'base'?" in message
    assert ":2:11:" in message


def test_a_missing_profile_lists_profiles_not_hidden_yaml_files(tmp_path, monkeypatch) -> None:
    """In a repository root, `.pre-commit-hooks.yaml` was offered as a known profile."""
    from bootstrap.errors import ProfileError
    from bootstrap.profile import load_profile

    (tmp_path / ".pre-commit-hooks.yaml").write_text("- id: x\n")
    (tmp_path / "ml-box.yaml").write_text("name: ml-box\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ProfileError) as caught:
        load_profile("zzzz")
    assert "ml-box" in str(caught.value) and "pre-commit" not in str(caught.value)


def test_extends_cycle(write_profile) -> None:
    write_profile("name: a\nextends: [b]\n", "a.yaml")
    write_profile("name: b\nextends: [a]\n", "b.yaml")
    [message] = problems_of(write_profile("name: c\nextends: [a]\n", "c.yaml"))
    assert "extends cycle" in message and "a.yaml -> " in message


def test_overrides_are_yaml_typed_and_validated(write_profile) -> None:
    path = write_profile("name: x\n")
    data = load_profile(str(path), ["timezone=Europe/Paris", "users=[{name: zed, sudo: true}]"]).data
    assert data["timezone"] == "Europe/Paris" and data["users"][0]["sudo"] is True
    data = load_profile(str(path), ["users=[{name: zed}]", "users.0.sudo=true"]).data
    assert data["users"][0]["sudo"] is True
    [message] = problems_of(path, "timezon=UTC")
    assert message.startswith("--set timezon=UTC:1:7: error: unknown key 'timezon'")
    assert "did you mean 'timezone'?" in message


@pytest.mark.parametrize(
    ("assignment", "expected"),
    [
        ("timezone", "expected PATH=VALUE"),
        ("a..b=1", "empty segment"),
        ("name.x=1", "is a str, not a mapping"),
        ("users.3.name=x", "is a list of 1 items"),
    ],
)
def test_bad_override_paths(write_profile, assignment: str, expected: str) -> None:
    path = write_profile("name: x\nusers: [{name: a}]\n")
    with pytest.raises(UsageError, match=expected):
        load_profile(str(path), [assignment])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "file is empty"),
        ("# only a comment\n", "file is empty"),
        ("- a\n- b\n", "must be a YAML mapping, got a list"),
        ("name: x\nname: y\n", "duplicate key 'name' (first defined at line 1)"),
        ("name: x\n\tpackages: []\n", "YAML syntax"),
        ("name: [x\n", "YAML syntax"),
        ("name: x\n1: y\n", "keys must be strings"),
        ("a: &a [1]\nb: {<<: *a}\n", "merge keys"),
        ("name: x\nfiles: [{path: etc/motd, content: x}]\n", "is not valid (an absolute path"),
        ("name: x\nfiles: [{path: /etc/../motd, content: x}]\n", "not normalized"),
        ("name: x\nfiles: [{path: /etc/motd}]\n", "exactly one of 'content' or 'source'"),
        ("name: x\nfiles: [{path: /etc/motd, source: nope.txt}]\n", "not found"),
        ("name: x\nfiles: [{path: /etc/motd, content: x, mode: 644}]\n", "expected a string, got integer 644"),
        ("name: x\nenv: {'1BAD': x}\n", "key '1BAD' in env"),
        ('name: x\nenv: {A: "a\\0b"}\n', "NUL bytes"),
        ("name: x\nusers: [{name: Root!}]\n", "is not valid (lowercase letters"),
        ("name: x\ncommands: {first_boot: [{run: ls, name: a}, {run: ls, name: a}]}\n", "two commands are named"),
        ("name: x\ncommands: {first_boot: [42]}\n", "expected a command string, or a mapping"),
        ("name: x\nextends: base\nextends: base\n", "duplicate key"),
    ],
)
def test_bad_profiles(write_profile, text: str, expected: str) -> None:
    messages = problems_of(write_profile(text))
    assert any(expected in m for m in messages), messages
    assert all("Traceback" not in m for m in messages)


def test_non_utf8_points_at_the_byte(tmp_path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(b"name: x\ndescription: caf\xe9\n")
    [message] = problems_of(path)
    assert message.startswith(f"{path}:2:17: error: not valid UTF-8 (byte 0xe9)")


def test_alias_bomb_is_refused_quickly(tmp_path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    path = tmp_path / "bomb.yaml"
    path.write_text("name: x\n" + "\n".join(lines) + "\n")
    [message] = problems_of(path)
    assert "expands to more than" in message


def test_deep_nesting_is_refused(tmp_path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("name: x\nenv: " + "[" * 5000 + "]" * 5000 + "\n")
    [message] = problems_of(path)
    assert "nesting is deeper than" in message


def test_huge_file_is_refused(tmp_path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("name: x\ndescription: '" + "y" * (2 * 1024 * 1024) + "'\n")
    [message] = problems_of(path)
    assert "limited to 1,048,576 bytes" in message


def test_schema_defaults_are_filled_in_once_at_load_and_only_where_they_apply(write_profile) -> None:
    profile = write_profile(
        "name: d\n"
        "users: [{name: alice}]\n"
        "mounts:\n"
        "  - {path: /data, type: block, device: {label: data}}\n"
        "  - {path: /s3, type: s3, bucket: team-data}\n"
        "commands: {first_boot: [{run: 'true'}]}\n"
    )
    data = load_profile(str(profile)).data
    assert data["users"][0] == {"name": "alice", "sudo": False, "shell": "/bin/bash"}
    block, bucket = data["mounts"]
    assert (block["filesystem"], block["format"], block["wait_seconds"]) == ("ext4", True, 300)
    assert "read_only" not in block  # a type's defaults go to that type only (mounts check refuses others)
    assert bucket["read_only"] is False and "filesystem" not in bucket
    assert data["commands"]["first_boot"][0]["scope"] == "instance"  # through anyOf's object variant


def _names_with_defaults(node: object) -> set[str]:
    names: set[str] = set()
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            if isinstance(sub, dict) and "default" in sub:
                names.add(name)
        for value in node.values():
            names |= _names_with_defaults(value)
    elif isinstance(node, list):
        for value in node:
            names |= _names_with_defaults(value)
    return names


def test_no_feature_repeats_a_schema_default() -> None:
    schema = json.loads(json.dumps(profile_schema()))["properties"]
    assert {"shell", "sudo"} <= _names_with_defaults(schema["users"])
    features = Path(__file__).resolve().parent.parent / "bootstrap" / "features"
    repeated = []
    for path in features.glob("[a-z]*.py"):
        names = _names_with_defaults(schema.get(path.stem, {}))
        for match in re.finditer(r"\.get\(\s*['\"](\w+)['\"]\s*,[^)]*\)", path.read_text()):
            if match.group(1) in names:
                repeated.append(f"{path.name}: {match.group(0)}")
    assert not repeated, "read the default the loader filled in (item[key]):\n" + "\n".join(repeated)


def test_a_set_path_resolves_as_the_same_key_in_the_profile(tmp_path: Path, monkeypatch) -> None:
    """`--set files.0.source=conf/motd` names the file the profile's own key would: beside the profile,
    whatever the working folder (it resolved in a folder named after the --set text)."""
    from bootstrap.planner import build_plan

    team = tmp_path / "team"
    (team / "conf").mkdir(parents=True)
    (team / "conf" / "motd").write_text("from the override\n")
    (team / "default.txt").write_text("from the profile\n")
    (team / "p.yaml").write_text("name: p\nfiles:\n  - {path: /etc/motd, source: default.txt}\n")
    monkeypatch.chdir(tmp_path)
    plan = build_plan(load_profile("team/p.yaml", ["files.0.source=conf/motd"]))
    assert "from the override" in "".join(step.script for step in plan.steps)
