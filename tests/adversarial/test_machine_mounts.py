"""File systems a person may control elsewhere: a data disk that follows its owner between machines
(root on their laptop, or on another VM, can put a setuid-root shell or a device node on it), an
NFS or EFS export, a bucket. Mounted as they are, that person runs the shell on this machine and is
root. They mount nosuid,nodev unless the profile says otherwise, mount by mount; FUSE mounts give
their files the mount's owner and mode, and open to other users only when asked (allow_other).
"""

from __future__ import annotations

import pytest

from bootstrap.errors import ProfileError
from bootstrap.profile import load_profile

from ..conftest import render_text
from ..sandbox import Sandbox
from ..test_boundary_machine import uid_of

MOUNTS = """\
name: m
users: [{name: alice}]
mounts:
  - {path: /data, type: block, device: {label: data}, owner: 'alice:alice'}
  - {path: /nfs, type: nfs, server: nas, export: /team}
  - {path: /efs, type: efs, file_system_id: fs-0123abcd, region: eu-west-1}
"""


def attach(sandbox: Sandbox, label: str) -> None:
    device = sandbox.path(f"/dev/disk/by-label/{label}")
    device.parent.mkdir(parents=True, exist_ok=True)
    device.touch()


def fstab(sandbox: Sandbox) -> dict[str, list[str]]:
    lines = [line.split() for line in sandbox.read("/etc/fstab").splitlines() if line.strip()]
    return {fields[1]: fields[3].split(",") for fields in lines}


def test_mounts_a_person_controls_elsewhere_do_not_honour_setuid_or_devices(sandbox: Sandbox,
                                                                             write_profile) -> None:  # fmt: skip
    attach(sandbox, "data")
    result = sandbox.boot(render_text(write_profile(MOUNTS), "bash"))
    assert result.returncode == 0, result.stdout
    options = fstab(sandbox)
    for path in ("/data", "/nfs", "/efs"):
        assert "nosuid" in options[path] and "nodev" in options[path], f"{path}: {options[path]}"


def test_a_profile_may_trust_one_mount(sandbox: Sandbox, write_profile) -> None:
    attach(sandbox, "tools")
    trusted = "name: m\nmounts: [{path: /tools, type: block, device: {label: tools}, nosuid_nodev: false}]\n"
    assert sandbox.boot(render_text(write_profile(trusted), "bash")).returncode == 0
    assert fstab(sandbox)["/tools"] == ["defaults", "nofail", "x-systemd.device-timeout=30s"]


@pytest.mark.parametrize("option", ["suid", "dev"])
def test_setuid_comes_back_only_through_the_one_opt_out(write_profile, option: str) -> None:
    profile = f"name: m\nmounts: [{{path: /d, type: nfs, server: a, export: /x, options: [noatime, {option}]}}]\n"
    with pytest.raises(ProfileError) as caught:
        load_profile(str(write_profile(profile)))
    assert f"option {option!r} undoes nosuid,nodev: set nosuid_nodev: false on this mount instead" in str(caught.value)
    assert "profile.yaml:2:" in str(caught.value)  # located at the mount


def units(sandbox: Sandbox) -> dict[str, str]:
    found = {}
    for unit in sandbox.path("/etc/systemd/system").glob("bootstrap-mount-*.service"):
        [line] = [line for line in unit.read_text().splitlines() if line.startswith("ExecStart=")]
        found[unit.name] = line.removeprefix("ExecStart=")
    return found


ROOTS = """\
name: f
mounts:
  - {path: /s3-root, type: s3, bucket: root-data, read_only: true}
  - {path: /gcs-root, type: gcs, bucket: root-data}
"""
SHARED = """\
name: f
users: [{name: alice}]
mounts:
  - {path: /s3, type: s3, bucket: team-data, owner: 'alice:alice', mode: '0750', allow_other: true}
  - {path: /gcs, type: gcs, bucket: team-data, owner: alice, mode: '0700', allow_other: true}
"""


def fuse_boot(sandbox: Sandbox, profile: str) -> None:
    for path in ("/s3", "/gcs", "/s3-root", "/gcs-root"):
        sandbox.answer("mountpoint", path, exit_code=0)
    sandbox.install_stub("/usr/local/bin/mount-s3")  # installed: nothing to download
    sandbox.install_stub("/usr/local/bin/gcsfuse")
    result = sandbox.boot(profile)
    assert result.returncode == 0, result.stdout


def test_roots_buckets_stay_roots(sandbox: Sandbox, write_profile) -> None:
    fuse_boot(sandbox, render_text(write_profile(ROOTS), "bash"))
    assert units(sandbox) == {  # FUSE lets only the mounting user (root) in without allow_other
        "bootstrap-mount-s3-root.service": "/usr/bin/mount-s3 --foreground --read-only root-data /s3-root",
        "bootstrap-mount-gcs-root.service": "/usr/bin/gcsfuse --foreground -o nosuid,nodev root-data /gcs-root",
    }


def test_fuse_mounts_honour_owner_and_mode(sandbox: Sandbox, write_profile) -> None:
    fuse_boot(sandbox, render_text(write_profile(SHARED), "bash"))
    alice = uid_of(sandbox, "alice")
    gid = sandbox.path("/home/alice").stat().st_gid
    assert units(sandbox) == {
        "bootstrap-mount-s3.service": f"/usr/bin/mount-s3 --foreground --file-mode 0640 --dir-mode 0750 "
        f"--allow-other --uid {alice} --gid {gid} team-data /s3",
        "bootstrap-mount-gcs.service": f"/usr/bin/gcsfuse --foreground --file-mode 0600 --dir-mode 0700 "
        f"-o nosuid,nodev,allow_other,default_permissions --uid {alice} --gid {gid} team-data /gcs",
    }


@pytest.mark.parametrize(
    ("mount", "message"),
    [
        ("{path: /s, type: s3, bucket: abc, owner: alice}",
         "owner alice cannot reach this FUSE mount: only root can, unless allow_other: true"),
        ("{path: /s, type: gcs, bucket: abc, mode: '4755', allow_other: true}",
         "a FUSE mount takes permission bits only (no setuid, setgid or sticky): '4755'"),
        ("{path: /s, type: s3, bucket: abc, nosuid_nodev: false}", "a FUSE mount stays nosuid,nodev"),
        ("{path: /s, type: nfs, server: a, export: /x, allow_other: true}",
         "'allow_other' does not apply to a nfs mount"),
    ],
)  # fmt: skip
def test_fuse_settings_are_checked_where_they_are_written(write_profile, mount: str, message: str) -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile(str(write_profile(f"name: m\nmounts:\n  - {mount}\n")))
    assert message in str(caught.value)
