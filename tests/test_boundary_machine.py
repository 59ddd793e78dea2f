"""The machine's boundary: the runner is root, a machine user controls their home, and root never
writes, chowns, chmods or mounts through a path that user can change.

Each test plays the attacker inside the sandbox: after a first boot, "alice" swaps something in
her home for a link to a system file, and the next run of the step must leave the system alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import render_text, unchecked_script
from .sandbox import Sandbox

pytestmark = pytest.mark.sandbox

KEY1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBexampleexampleexampleexample0 one"
KEY2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBexampleexampleexampleexample1 two"
SHADOW = "root:*:19000:0:99999:7:::\n"


def uid_of(sandbox: Sandbox, user: str) -> int:
    for line in sandbox.read("/etc/passwd").splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2])
    raise AssertionError(f"{user} not in the sandbox's passwd")


def plant_link(sandbox: Sandbox, inside: str, target: str, owner: int) -> None:
    """What alice can do in her home: replace a file or folder with a link (hers) to anywhere."""
    path = sandbox.path(inside)
    if path.is_dir() and not path.is_symlink():
        for child in path.iterdir():
            child.unlink()
        path.rmdir()
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.symlink_to(target)
    os.lchown(path, owner, owner)


def system_state(sandbox: Sandbox) -> tuple[str, int, int, bool]:
    etc = sandbox.path("/etc").stat()
    return sandbox.read("/etc/shadow"), etc.st_uid, etc.st_mode, sandbox.exists("/etc/authorized_keys")


def keys_profile(write_profile, *keys: str) -> str:
    listed = ", ".join(f"'{k}'" for k in keys)
    return render_text(
        write_profile(f"name: k\nusers:\n  - {{name: alice, ssh_authorized_keys: [{listed}]}}\n"), "bash"
    )


@pytest.fixture
def shadowed(sandbox: Sandbox) -> Sandbox:
    sandbox.path("/etc/shadow").write_text(SHADOW)
    sandbox.path("/etc/shadow").chmod(0o640)
    return sandbox


def test_keys_are_written_as_alice_with_her_modes(shadowed: Sandbox, write_profile) -> None:
    result = shadowed.boot(keys_profile(write_profile, KEY1))
    assert result.returncode == 0, result.stdout + result.stderr
    keys = shadowed.path("/home/alice/.ssh/authorized_keys")
    alice = uid_of(shadowed, "alice")
    assert keys.read_text() == KEY1 + "\n"
    assert (keys.stat().st_uid, oct(keys.stat().st_mode & 0o777)) == (alice, "0o600")
    assert shadowed.path("/home/alice/.ssh").stat().st_uid == alice


@pytest.mark.parametrize(
    ("inside", "target"),
    [("/home/alice/.ssh/authorized_keys", "/etc/shadow"), ("/home/alice/.ssh", "/etc")],
    ids=["authorized_keys-to-shadow", "ssh-folder-to-etc"],
)
def test_a_link_in_alice_home_does_not_give_her_roots_write(shadowed: Sandbox, write_profile, inside: str,
                                                            target: str) -> None:  # fmt: skip
    assert shadowed.boot(keys_profile(write_profile, KEY1)).returncode == 0
    before = system_state(shadowed)
    plant_link(shadowed, inside, target, uid_of(shadowed, "alice"))
    # A key added to the profile: the SSH-keys step runs again on the next boot.
    result = shadowed.boot(keys_profile(write_profile, KEY1, KEY2))
    assert system_state(shadowed) == before, result.stdout
    assert KEY2 not in shadowed.read("/etc/shadow")
    assert "could not update /home/alice/.ssh/authorized_keys as alice" in result.stdout + result.stderr


FILES = """\
name: f
users: [{name: alice}]
files:
  - {path: /home/alice/notes.txt, content: "hello\\n", owner: 'alice:alice', mode: '0640', phase: every_boot}
  - {path: /home/alice/.config/app.conf, content: "x=1\\n", owner: alice, phase: every_boot}
"""


def test_every_boot_files_in_a_home_are_written_as_its_owner(sandbox: Sandbox, write_profile) -> None:
    script = render_text(write_profile(FILES), "bash")
    assert sandbox.boot(script).returncode == 0
    alice = uid_of(sandbox, "alice")
    plant_link(sandbox, "/home/alice/notes.txt", "/etc/passwd", alice)
    plant_link(sandbox, "/home/alice/.config", "/etc", alice)
    passwd = sandbox.read("/etc/passwd")
    result = sandbox.boot()
    assert sandbox.read("/etc/passwd") == passwd
    assert not sandbox.exists("/etc/app.conf")
    assert sandbox.path("/etc").stat().st_uid == 0
    # alice's link was replaced by her own file, written with her rights only
    notes = sandbox.path("/home/alice/notes.txt")
    assert not notes.is_symlink() and notes.read_text() == "hello\n" and notes.stat().st_uid == alice
    assert "writing /home/alice/notes.txt as alice" in result.stdout
    assert result.returncode != 0  # app.conf could not be written through her link to /etc: the step fails


def test_a_root_owned_file_in_a_user_folder_is_refused(sandbox: Sandbox, write_profile) -> None:
    # validate refuses it (tests/test_user_folder_rules.py); the runner holds the line by itself too
    profile = "name: f\nusers: [{name: alice}]\nfiles:\n  - {path: /home/alice/bin/tool, content: x, mode: '0755'}\n"
    result = sandbox.boot(unchecked_script(write_profile(profile)))
    assert result.returncode != 0
    assert "refusing to write /home/alice/bin/tool as root: /home/alice is not root's alone (owner uid" in result.stdout
    assert not sandbox.exists("/home/alice/bin/tool")


def test_files_in_root_folders_are_still_written_by_root(sandbox: Sandbox, write_profile) -> None:
    profile = "name: f\nfiles:\n  - {path: /etc/app/x.conf, content: x, owner: 'root:root', mode: '0600'}\n"
    result = sandbox.boot(render_text(write_profile(profile), "bash"))
    assert result.returncode == 0, result.stdout
    info = sandbox.path("/etc/app/x.conf").stat()
    assert (info.st_uid, oct(info.st_mode & 0o777)) == (0, "0o600")
    assert "as root" not in result.stdout


def test_a_shared_sticky_folder_is_not_trusted_for_new_paths(sandbox: Sandbox, write_profile) -> None:
    # /tmp is world-writable: another user could plant /tmp/cfg first, so root does not create through it.
    profile = "name: f\nfiles:\n  - {path: /tmp/cfg/x.conf, content: x}\n"
    result = sandbox.boot(unchecked_script(write_profile(profile)))  # validate refuses it first
    assert result.returncode != 0
    assert "refusing to write /tmp/cfg/x.conf as root" in result.stdout


MOUNT = """\
name: m
users: [{name: alice}]
mounts:
  - {path: /home/alice/data, type: nfs, server: files.internal, export: /team, owner: 'alice:alice'}
"""


def test_a_mount_point_a_user_controls_is_refused(sandbox: Sandbox, write_profile) -> None:
    """validate refuses this profile (tests/test_validate_rules.py); the machine refuses it too."""
    result = sandbox.boot(unchecked_script(write_profile(MOUNT)))
    assert result.returncode != 0
    assert "refusing to mount on /home/alice/data: /home/alice can be changed by a user other than root" in (
        result.stdout
    )
    assert sandbox.calls("mount") == []


def test_secrets_follow_the_same_rule(sandbox: Sandbox, write_profile) -> None:
    profile = (
        "name: s\nusers: [{name: alice}]\nsecrets:\n"
        "  - {name: token, from: 'aws-ssm:/team/token', path: /home/alice/.token, owner: alice}\n"
    )
    sandbox.answer("aws", "get-parameter", "s3cr3t")
    assert sandbox.boot(render_text(write_profile(profile), "bash")).returncode == 0
    alice = uid_of(sandbox, "alice")
    token = sandbox.path("/home/alice/.token")
    assert token.read_text() == "s3cr3t" and token.stat().st_uid == alice
    plant_link(sandbox, "/home/alice/.token", "/etc/shadow", alice)
    shadow = sandbox.read("/etc/shadow")
    sandbox.boot()
    assert sandbox.read("/etc/shadow") == shadow
    assert not Path(sandbox.path("/home/alice/.token")).is_symlink()
