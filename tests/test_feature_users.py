"""users: a fixed uid the machine already gave away stops the boot with the account that holds it,
and validate refuses the uid every cloud image's default user holds."""

from __future__ import annotations

import pytest

from bootstrap.errors import ProfileError
from bootstrap.profile import load_profile

from .conftest import render_text
from .sandbox import Sandbox


def test_uid_1000_and_a_uid_twice_are_refused_at_the_line(write_profile) -> None:
    path = write_profile("name: u\nusers:\n  - {name: alice, uid: 1000}\n  - {name: bob, uid: 2001}\n"
                         "  - {name: carol, uid: 2001}\n")  # fmt: skip
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path))
    said = str(caught.value)
    assert f"{path}:3:" in said and "uid 1000 is the cloud's default user's" in said
    assert f"{path}:5:" in said and "uid 2001 is also bob's" in said


def test_a_uid_taken_on_the_machine_stops_the_boot_naming_its_holder(sandbox: Sandbox, write_profile) -> None:
    """Before, useradd said 'UID 2001 is not unique' and the boot stopped at the users step with no
    word of which account had it."""
    sandbox.run("useradd", "--uid", "2001", "admin")  # the image's own account
    profile = write_profile("name: u\nusers: [{name: alice, uid: 2001}]\n")
    result = sandbox.boot(render_text(profile, "bash"))
    assert result.returncode != 0
    assert "user alice: uid 2001 is taken by admin" in result.stdout


def test_an_account_with_another_uid_is_not_renumbered(sandbox: Sandbox, write_profile) -> None:
    sandbox.run("useradd", "--uid", "2002", "alice")
    profile = write_profile("name: u\nusers: [{name: alice, uid: 2001}]\n")
    result = sandbox.boot(render_text(profile, "bash"))
    assert result.returncode != 0
    assert "user alice exists with uid 2002, not the profile's 2001" in result.stdout


def test_the_users_step_runs_twice_with_the_same_result(sandbox: Sandbox, write_profile) -> None:
    profile = write_profile("name: u\nusers: [{name: alice, uid: 2001}]\n")
    assert sandbox.boot(render_text(profile, "bash")).returncode == 0
    sandbox.new_instance("i-second")  # the first-boot step again, on an account it made
    assert sandbox.boot().returncode == 0
    assert sandbox.run("id", "-u", "alice").stdout.strip() == "2001"


@pytest.mark.parametrize(("user", "said"), [
    ("{name: admin, uid: 2001}", "admin is a cloud image's default user, which cloud-init makes with uid 1000"),
    ("{name: root, uid: 2000}", "root's uid is 0 on every machine"),
])  # fmt: skip
def test_a_uid_the_account_can_never_have_is_refused(write_profile, user: str, said: str) -> None:
    """Both validated and stopped the boot: 'user admin exists with uid 1000, not the profile's 2001'."""
    with pytest.raises(ProfileError) as caught:
        load_profile(str(write_profile(f"name: u\nusers: [{user}]\n")))
    assert said in str(caught.value)


def test_the_default_user_keeps_its_own_uid_1000(write_profile) -> None:
    load_profile(str(write_profile("name: u\nusers: [{name: ubuntu, uid: 1000, groups: [docker]}]\n")))


def test_an_account_named_like_a_group_is_refused_as_useradd_refuses_it(sandbox: Sandbox, write_profile,
                                                                       tmp_path) -> None:  # fmt: skip
    """useradd: group video exists - if you want to add this user to that group, use -g (exit 9)."""
    from .conftest import unchecked_script

    path = write_profile("name: u\nusers: [{name: alice, groups: [team]}, {name: team}, {name: video}]\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path))
    said = str(caught.value)
    assert "'team' is also a group (another account's groups: list it)" in said
    assert "'video' is also a group (one every Debian and Ubuntu system has)" in said
    result = sandbox.boot(unchecked_script(path))
    assert result.returncode != 0 and "group team exists" in result.stdout + result.stderr
    load_profile(str(write_profile("name: u\nusers: [{name: root, ssh_authorized_keys: []}, {name: alice}]\n")))
