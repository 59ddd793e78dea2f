"""A file or secret for root in a folder a user other than root can change, with no mount in the
way: /tmp and the other sticky scratch folders, the home of an account that exists by then. The
runner's put_file refuses to write it as root, so validate refuses it at its line; beside each rule,
the unchecked profile's boot in the sandbox, failing as the message says."""

from __future__ import annotations

import pytest

from bootstrap.errors import ProfileError
from bootstrap.profile import load_profile

from .conftest import unchecked_script
from .sandbox import Sandbox

CASES = [
    ("name: p\nfiles: [{path: /tmp/app.conf, content: x}]\n", 2, "file /tmp/app.conf is root's but lies in /tmp",
     "refusing to write /tmp/app.conf as root"),
    ("name: p\nfiles: [{path: /var/tmp/cfg/app.conf, content: x}]\n", 2,
     "file /var/tmp/cfg/app.conf is root's but lies in /var/tmp", "refusing to write /var/tmp/cfg/app.conf as root"),
    ("name: p\nusers: [{name: alice}]\nfiles: [{path: /home/alice/.bashrc, content: x}]\n", 3,
     "file /home/alice/.bashrc is root's but lies in /home/alice: /home/alice is alice's home",
     "refusing to write /home/alice/.bashrc as root"),
    ("name: p\nusers: [{name: alice}]\nsecrets: [{name: t, from: 'aws-ssm:/t', path: /home/alice/.t}]\n", 3,
     "secret t (written to /home/alice/.t) is root's but lies in /home/alice",
     "refusing to write /home/alice/.t as root"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "said", "machine"), CASES, ids=["tmp", "var-tmp", "home", "secret"])
def test_roots_file_in_a_folder_users_change_is_refused_as_the_machine_does(
    sandbox: Sandbox, tmp_path, text: str, line: int, said: str, machine: str
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path))
    assert f"{path}:{line}:" in str(caught.value) and said in str(caught.value), caught.value
    assert "hint:" in str(caught.value)
    sandbox.run("chmod", "1777", "/var/tmp")  # as on a real machine
    sandbox.answer("curl", "/latest/api/token", "T")
    sandbox.answer("curl", "placement/region", "us-east-1")
    sandbox.set_stub("aws", output="tok")
    result = sandbox.boot(unchecked_script(path))
    assert result.returncode != 0 and machine in result.stdout + result.stderr


def test_the_users_own_files_in_their_home_and_roots_elsewhere_validate(write_profile) -> None:
    load_profile(str(write_profile(
        "name: p\nusers: [{name: alice}]\nfiles:\n"
        "  - {path: /home/alice/.config/app.conf, content: x, owner: 'alice:alice'}\n"
        "  - {path: /etc/app.conf, content: x}\n"
        "  - {path: /home/shared/readme, content: x}\n"  # no such account: root makes /home/shared
        "secrets: [{name: t, from: 'aws-ssm:/t', owner: alice, path: /home/alice/.t}]\n"
    )))  # fmt: skip


def test_a_first_boot_file_on_a_tmpfs_is_refused(sandbox: Sandbox, tmp_path) -> None:
    """/run is memory: written once on boot 1, gone after the reboot, never written again (its marker)."""
    path = tmp_path / "p.yaml"
    path.write_text("name: p\nfiles: [{path: /run/myapp/app.conf, content: x}]\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path))
    assert "/run is a tmpfs, emptied at every boot" in str(caught.value)
    assert sandbox.boot(unchecked_script(path)).returncode == 0 and sandbox.exists("/run/myapp/app.conf")
    assert sandbox.boot().returncode == 0 and not sandbox.exists("/run/myapp/app.conf")  # what it did
    path.write_text("name: p\nfiles: [{path: /run/myapp/app.conf, content: x, phase: every_boot}]\n")
    load_profile(str(path))
