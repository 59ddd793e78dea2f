"""Feature units: the steps each feature contributes, with phase, scope and content."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bootstrap.features import all_features, in_dependency_order
from bootstrap.plan import Phase, Scope
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile
from bootstrap.schema import profile_schema


def steps_of(write_profile, text: str) -> dict:
    plan = build_plan(load_profile(str(write_profile(text))))
    return {s.id: s for s in plan.steps}


def test_registry_finds_every_feature_and_the_schema_has_them() -> None:
    keys = {f.KEY for f in all_features()}
    assert {"hostname", "timezone", "packages", "users", "env", "files", "commands"} <= keys
    assert keys <= set(profile_schema()["properties"])


def test_every_feature_comes_after_what_it_declares() -> None:
    order = [f.KEY for f in all_features()]
    for feature in all_features():
        for before in feature.AFTER | getattr(feature, "DEFAULT_AFTER", frozenset()) - {"*"}:
            assert order.index(before) < order.index(feature.KEY), (before, feature.KEY)
    # "*": commands after every feature but those that wait for them (services start after the commands)
    assert order[-4:] == ["commands", "services", "idle_shutdown", "verify"]


def _feature(key: str, *after: str, default: tuple[str, ...] = ()) -> SimpleNamespace:
    return SimpleNamespace(KEY=key, AFTER=frozenset(after), DEFAULT_AFTER=frozenset(default))


def test_dependency_order_ties_by_key_and_refuses_cycles_and_unknown_names() -> None:
    order = in_dependency_order([_feature("z"), _feature("b", "z"), _feature("a"), _feature("last", default=("*",))])  # type: ignore[list-item]
    assert [f.KEY for f in order] == ["a", "z", "b", "last"]
    # "*" leaves out what comes after it: "late" waits for "last", so "last" cannot wait for "late"
    order = in_dependency_order([_feature("a"), _feature("last", default=("*",)), _feature("late", default=("last",))])  # type: ignore[list-item]
    assert [f.KEY for f in order] == ["a", "last", "late"]
    with pytest.raises(RuntimeError, match="cycle"):
        in_dependency_order([_feature("a", "b"), _feature("b", "a")])  # type: ignore[list-item]
    with pytest.raises(RuntimeError, match="no feature"):
        in_dependency_order([_feature("a", "usres")])  # type: ignore[list-item]


def test_schema_is_valid_draft_2020_12_and_documented() -> None:
    from jsonschema import Draft202012Validator

    schema = profile_schema()
    Draft202012Validator.check_schema(schema)
    for key, prop in schema["properties"].items():
        assert prop.get("description"), key
        assert prop.get("examples"), key


def test_feature_inactive_without_its_key(write_profile) -> None:
    assert steps_of(write_profile, "name: empty\n") == {}


def test_packages_step(write_profile) -> None:
    step = steps_of(write_profile, "name: p\npackages: [jq, htop, git=1:2.39.5-0+deb12u1]\n")["packages"]
    assert (step.phase, step.scope) == (Phase.FIRST_BOOT, Scope.IMAGE)
    assert "  git=1:2.39.5-0+deb12u1\n  htop\n  jq\n" in step.script


def test_hostname_every_boot_instance(write_profile) -> None:
    step = steps_of(write_profile, "name: h\nhostname: box.example.com\n")["hostname"]
    assert (step.phase, step.scope) == (Phase.EVERY_BOOT, Scope.INSTANCE)


def test_users_split_accounts_and_keys(write_profile) -> None:
    steps = steps_of(
        write_profile,
        """\
        name: u
        users:
          - name: bob
          - name: alice
            sudo: true
            ssh_authorized_keys: ["ssh-ed25519 AAAAC3Nza alice@x"]
        """,
    )
    assert steps["users"].scope == Scope.IMAGE and steps["ssh-keys"].scope == Scope.INSTANCE
    assert steps["users"].script.index("ensure_user alice") < steps["users"].script.index("ensure_user bob")
    assert "ensure_user bob" not in steps["ssh-keys"].script


def test_files_ids_phase_scope_and_binary_source(write_profile, tmp_path) -> None:
    (tmp_path / "blob.bin").write_bytes(b"\x00\xff\x10")
    steps = steps_of(
        write_profile,
        """\
        name: f
        files:
          - {path: /etc/A.conf, content: a}
          - {path: /etc/a.conf, content: b, phase: every_boot, scope: instance}
          - {path: /opt/blob, source: blob.bin}
        """,
    )
    ids = list(steps)
    assert ids[0] == "file-etc-a.conf" and ids[1].startswith("file-etc-a.conf-")  # collision gets a hash
    assert steps[ids[1]].phase == Phase.EVERY_BOOT and steps[ids[1]].scope == Scope.INSTANCE
    assert "write_file_b64 /opt/blob 0644 root:root AP8Q" in steps["file-opt-blob"].script


def test_commands_ids_and_scopes(write_profile) -> None:
    steps = steps_of(
        write_profile,
        """\
        name: c
        commands:
          first_boot: ["echo a", {run: "echo b", name: bee, scope: image}]
          every_boot: ["echo c"]
        """,
    )
    assert list(steps) == ["cmd-first-boot-01", "cmd-bee", "cmd-every-boot-01"]
    assert steps["cmd-bee"].scope == Scope.IMAGE and steps["cmd-first-boot-01"].scope == Scope.INSTANCE
    assert steps["cmd-every-boot-01"].phase == Phase.EVERY_BOOT


def test_step_hash_changes_with_content(write_profile) -> None:
    a = steps_of(write_profile, "name: h\npackages: [jq]\n")["packages"].hash
    b = steps_of(write_profile, "name: h\npackages: [htop]\n")["packages"].hash
    assert a != b and len(a) == 16


@pytest.mark.parametrize("value", ["$(touch /pwned)", "`id`", "'; rm -rf / #", "{{ 7*7 }}", "{% raw %}", "${HOME}"])
def test_values_are_quoted_and_never_templated(write_profile, value: str) -> None:
    import json

    steps = steps_of(write_profile, f"name: q\nenv: {{X: {json.dumps(value)}}}\n")
    script = steps["env"].script
    assert "49" not in script  # {{ 7*7 }} was not evaluated
    assert value.replace("'", "'\"'\"'") in script  # present, inside single quotes


def test_step_descriptions_count_right(write_profile) -> None:
    """issue 22.7: '1 checks', 'install 1 apt packages', 'for 1 accounts' were said."""
    from bootstrap.features.users import EXAMPLE_KEY

    plan = build_plan(load_profile(str(write_profile(
        "name: one\npackages: [htop]\nenv: {A: b}\nverify: ['test -e /']\n"
        f"users: [{{name: alice, ssh_authorized_keys: ['{EXAMPLE_KEY}']}}]\n"))))  # fmt: skip
    said = {step.id: step.description for step in plan.steps}
    assert said["packages"] == "install 1 apt package" and said["env"] == "set 1 environment variable"
    assert said["verify"] == "1 check" and said["ssh-keys"] == "authorize SSH keys for 1 account"
