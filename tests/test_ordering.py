"""Order a user can state (issue 22 item 2): commands and services say before:/after: naming features
or step ids; a cycle is refused at the profile line; services start after the every-boot commands
unless they say otherwise; `explain` shows the final order."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bootstrap.errors import ProfileError
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile

DISK = """\
name: disk
packages: [xfsprogs]
users: [{name: alice}]
mounts:
  - {path: /data, type: block, device: {label: data}, owner: "alice:alice"}
commands:
  first_boot:
    - {name: early-note, run: "echo one"}
    - name: label-disk
      run: "xfs_admin -L data /dev/nvme1n1 || true"
      before: [mounts]
    - {name: late-note, run: "echo three"}
"""


def order(write_profile, text: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [s.id for s in build_plan(load_profile(str(write_profile(text)))).ordered]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bootstrap", *args], capture_output=True, text=True, timeout=120)


def test_a_command_runs_before_the_step_it_names_and_the_others_keep_their_places(write_profile) -> None:
    # after the packages it needs (xfsprogs) and the mount tools, just before the mounting ("mounts" names
    # that step: NAMED_STEPS); the unstated commands stay last
    assert order(write_profile, DISK) == ["packages", "users", "mounts-tools", "cmd-label-disk", "mounts",
                                          "cmd-early-note", "cmd-late-note"]  # fmt: skip
    # a step id names that step alone
    text = DISK.replace("before: [mounts]", "after: [mounts-tools]\n      before: [cmd-early-note]")
    assert order(write_profile, text) == ["packages", "users", "mounts-tools", "mounts", "cmd-label-disk",
                                          "cmd-early-note", "cmd-late-note"]  # fmt: skip


def test_before_a_feature_means_before_all_its_steps_and_after_works_too(write_profile) -> None:
    text = DISK.replace("before: [mounts]", "before: [packages]").replace(
        '{name: late-note, run: "echo three"}', '{name: late-note, run: "echo three", after: [users]}'
    )
    # late-note's after: [users] holds where it is: it stays last
    assert order(write_profile, text) == ["cmd-label-disk", "packages", "users", "mounts-tools", "mounts",
                                          "cmd-early-note", "cmd-late-note"]  # fmt: skip
    text = text.replace("after: [users]", "before: [mounts]")
    assert order(write_profile, text) == ["cmd-label-disk", "packages", "users", "mounts-tools", "cmd-late-note",
                                          "mounts", "cmd-early-note"]  # fmt: skip
    text = text.replace("before: [mounts]", "before: [mounts-tools]")  # the tools' step, by its id
    assert order(write_profile, text) == ["cmd-label-disk", "packages", "users", "cmd-late-note", "mounts-tools",
                                          "mounts", "cmd-early-note"]  # fmt: skip


def test_a_feature_the_profile_does_not_use_orders_nothing(write_profile) -> None:
    # a parent's command may name conda; a child without conda still renders
    text = DISK.replace("before: [mounts]", "before: [conda]")
    assert order(write_profile, text)[-3:] == ["cmd-early-note", "cmd-label-disk", "cmd-late-note"]


def test_a_cycle_is_refused_at_the_statement_with_the_chain(write_profile) -> None:
    path = write_profile(DISK.replace("before: [mounts]", "before: [packages]\n      after: [users]"))
    result = cli("validate", str(path))
    assert result.returncode == 2, result.stderr
    assert f"{path}:12:15: error: the steps cannot be ordered: packages -> users -> cmd-label-disk -> packages " \
           "is a cycle (users runs after packages; cmd-label-disk is to run after users; cmd-label-disk is to run " \
           "before packages)" in result.stderr  # fmt: skip
    assert "Traceback" not in result.stderr


def test_an_unknown_name_gets_a_close_match_and_a_step_naming_itself_is_refused(write_profile) -> None:
    result = cli("validate", str(write_profile(DISK.replace("before: [mounts]", "before: [mount]"))))
    assert result.returncode == 2
    assert "profile.yaml:11:16: error: cmd-label-disk: before 'mount' names no feature or step of this profile" \
        in result.stderr and "did you mean 'mounts'?" in result.stderr  # fmt: skip
    with pytest.raises(ProfileError, match="cmd-label-disk is to run before itself"):
        order(write_profile, DISK.replace("before: [mounts]", "before: [cmd-label-disk]"))


SERVICES = """\
name: web
users: [{name: alice}]
commands:
  first_boot:
    - {name: prepare, run: "install -d -o alice /srv/site"}
  every_boot:
    - {name: warm, run: "curl -fsS http://127.0.0.1:8000/ >/dev/null"}
    - {name: note, run: "echo booted"}
services:
  units:
    - {name: site, command: "python3 -m http.server", user: alice, working_directory: /srv/site,
       after: [cmd-prepare, network-online.target], before: [cmd-warm]}
    - {name: worker, command: "sleep infinity", after: [docker.service]}
"""


def test_services_start_after_the_commands_unless_a_unit_says_otherwise(write_profile) -> None:
    assert order(write_profile, SERVICES) == ["users", "cmd-prepare", "service-site", "cmd-warm", "cmd-note",
                                              "services"]  # fmt: skip
    plan = build_plan(load_profile(str(write_profile(SERVICES))))
    site = next(s for s in plan.ordered if s.id == "service-site").script
    # systemd's own ordering keeps the unit names; ours never reach the unit
    assert "After=network-online.target local-fs.target remote-fs.target network-online.target" in site
    assert "cmd-prepare" not in site.split("After=")[1].splitlines()[0]
    assert "docker.service" in next(s for s in plan.ordered if s.id == "services").script


def test_a_service_cannot_start_before_what_services_need(write_profile) -> None:
    text = SERVICES.replace("before: [cmd-warm]", "before: [users]")
    with pytest.raises(ProfileError, match=r"users -> service-site -> users is a cycle \(services runs after users; "
                       r"service-site is to run before users\)"):  # fmt: skip
        order(write_profile, text)


def test_a_unit_name_without_its_suffix_is_not_taken_for_one_of_ours(write_profile) -> None:
    result = cli("validate", str(write_profile(SERVICES.replace("after: [docker.service]", "after: [docker]"))))
    assert result.returncode == 2
    assert "service-worker: after 'docker' names no feature or step" in result.stderr
    assert "a systemd unit takes its suffix (docker.service)" in result.stderr


def test_explain_shows_the_final_order(write_profile) -> None:
    result = cli("explain", str(write_profile(SERVICES)))
    assert result.returncode == 0, result.stderr
    rows = [line.split()[0] for line in result.stdout.splitlines()[1:7]]
    assert rows == ["users", "cmd-prepare", "service-site", "cmd-warm", "cmd-note", "services"]
    assert "every boot takes the steps in this order" in result.stdout


def test_an_unnamed_command_whose_id_a_named_one_took_is_located(write_profile) -> None:
    text = 'name: c\ncommands:\n  first_boot:\n    - {name: every-boot-01, run: "true"}\n  every_boot:\n    - "true"\n'
    result = cli("validate", str(write_profile(text)))
    assert result.returncode == 2  # said "two commands are named None", nowhere, before
    assert "profile.yaml:6:7: error: every_boot command 1 gets step id 'cmd-every-boot-01'" in result.stderr


def test_a_statement_that_would_reverse_two_unstated_steps_is_refused(write_profile) -> None:
    """`late` says it runs before `a` and after `b`: that puts b before a, which the list has the
    other way round and neither states. Once silently reordered; now refused at the statement."""
    text = """\
name: drag
commands:
  first_boot:
    - {name: a, run: "echo a"}
    - {name: b, run: "echo b"}
    - name: late
      run: "echo late"
      before: [cmd-a]
      after: [cmd-b]
"""
    with pytest.raises(ProfileError) as caught:
        order(write_profile, text)
    message = str(caught.value)
    assert "a stated order moves cmd-a after cmd-b, though neither states an order" in message
    assert "cmd-b -> cmd-late -> cmd-a" in message
    assert ":7:" in message or ":8:" in message or ":9:" in message  # located at late's statement
    moved = text.replace('{name: a, run: "echo a"}', '{name: a, run: "echo a", after: [cmd-b]}')
    assert order(write_profile, moved) == ["cmd-b", "cmd-late", "cmd-a"]  # said: allowed


def test_a_unit_naming_a_unit_without_its_own_step_is_told_how_units_are_named(write_profile) -> None:
    """Before: 'did you mean service-web?', the unit itself; a unit without before:/after: has no step
    of its own (it starts in the services step), and systemd order takes db.service."""
    path = write_profile("name: s\nservices:\n  units:\n    - {name: db, command: 'sleep 1'}\n"
                         "    - {name: web, command: 'sleep 1', after: [service-db]}\n")  # fmt: skip
    result = cli("validate", str(path))
    assert result.returncode == 2
    assert "did you mean 'service-web'" not in result.stderr
    assert "a unit gets a step of its own (service-NAME) only when it says before: or after:" in result.stderr


def test_a_commands_own_name_is_answered_with_its_step_id(write_profile) -> None:
    path = write_profile("name: o\ncommands:\n  first_boot:\n    - {name: x, run: 'echo x'}\n"
                         "    - {name: y, run: 'echo y', after: [x]}\n")  # fmt: skip
    result = cli("validate", str(path))
    assert result.returncode == 2 and "hint: did you mean 'cmd-x'?" in result.stderr
