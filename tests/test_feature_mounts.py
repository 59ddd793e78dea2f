"""mounts: block devices formatted only when empty, fstab kept exact, network and FUSE mounts."""

from __future__ import annotations

import pytest

from bootstrap.errors import ProfileError
from bootstrap.profile import load_profile

from .conftest import render_text
from .sandbox import Sandbox

EBS = "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0"
DATA = """\
name: m
users: [{name: alice}]
mounts:
  - {path: /data, type: block, device: {ebs_volume_id: vol-0123456789abcdef0}, owner: 'alice:alice', mode: '0770',
     options: [noatime]}
"""


def attach(sandbox: Sandbox, device: str = EBS) -> None:
    path = sandbox.path(device)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def fstab(sandbox: Sandbox) -> list[str]:
    return [line for line in sandbox.read("/etc/fstab").splitlines() if line]


def test_empty_disk_is_formatted_mounted_and_owned(sandbox: Sandbox, write_profile) -> None:
    attach(sandbox)
    sandbox.answer("blkid", "UUID", "c0ffee00-1234")
    result = sandbox.boot(render_text(write_profile(DATA), "bash"))
    assert result.returncode == 0, result.stdout
    assert sandbox.calls("mkfs.ext4") == [["mkfs.ext4", EBS]]
    assert fstab(sandbox) == [
        "UUID=c0ffee00-1234 /data ext4 defaults,nofail,x-systemd.device-timeout=30s,nosuid,nodev,noatime 0 2"
    ]
    assert sandbox.calls("mount") == [["mount", "/data"]]
    stat = sandbox.path("/data").stat()
    assert oct(stat.st_mode & 0o777) == "0o770"


def test_a_disk_with_data_is_never_formatted(sandbox: Sandbox, write_profile) -> None:
    attach(sandbox)
    sandbox.answer("blkid", "TYPE", "xfs")  # holds a filesystem, even of another type
    sandbox.answer("blkid", "UUID", "beef")
    result = sandbox.boot(render_text(write_profile(DATA), "bash"))
    assert result.returncode == 0, result.stdout
    assert sandbox.calls("mkfs.ext4") == [] and sandbox.calls("mkfs.xfs") == []
    assert "already holds xfs (profile says ext4): using it as it is, never reformatting" in result.stdout
    assert fstab(sandbox)[0].startswith("UUID=beef /data xfs ")


def test_every_boot_keeps_one_fstab_line_and_skips_mounted(sandbox: Sandbox, write_profile) -> None:
    attach(sandbox)
    sandbox.path("/etc/fstab").write_text("/dev/old /data ext4 defaults 0 2\nproc /proc proc defaults 0 0\n")
    sandbox.answer("blkid", "UUID", "c0ffee00-1234")
    assert sandbox.boot(render_text(write_profile(DATA), "bash")).returncode == 0
    sandbox.answer("blkid", "TYPE", "ext4")  # formatted now
    sandbox.set_stub("mountpoint", exit_code=0)  # and mounted
    sandbox.clear_calls()
    assert sandbox.boot().returncode == 0
    assert [line.split()[1] for line in fstab(sandbox)] == ["/proc", "/data"]
    assert sandbox.calls("mount") == [] and sandbox.calls("mkfs.ext4") == []


def test_a_device_that_never_attaches_fails_clearly(sandbox: Sandbox, write_profile) -> None:
    profile = write_profile(
        "name: m\nmounts: [{path: /data, type: block, device: {gce_disk: data}, wait_seconds: 2}]\n"
    )
    result = sandbox.boot(render_text(profile, "gce"))
    assert result.returncode == 1
    assert "/dev/disk/by-id/google-data did not attach within 2s" in result.stdout


def test_a_blank_disk_named_by_label_is_told_why_format_cannot_reach_it(sandbox: Sandbox, write_profile) -> None:
    """A new disk has no filesystem, so no label: the label's link never appears and format: true
    never runs. Before, the message asked whether the disk was attached (it was)."""
    profile = write_profile(
        "name: m\nmounts: [{path: /data, type: block, device: {label: team-data}, wait_seconds: 2}]\n"
    )
    result = sandbox.boot(render_text(profile, "bash"))
    assert result.returncode == 1
    assert "/dev/disk/by-label/team-data did not appear within 2s: no attached disk holds a filesystem" in (
        result.stdout)
    assert "a new, blank disk has neither, so format: cannot find it: label it once" in result.stdout


def test_nfs_and_efs_entries(sandbox: Sandbox, write_profile) -> None:
    sandbox.answer("curl", "/latest/api/token", "T")
    sandbox.answer("curl", "placement/region", "eu-west-1")
    profile = write_profile("""\
        name: m
        mounts:
          - {path: /shared, type: nfs, server: nas.internal, export: /exports/team}
          - {path: /efs, type: efs, file_system_id: fs-0123abcd}
        """)
    result = sandbox.boot(render_text(profile, "bash"))
    assert result.returncode == 0, result.stdout
    lines = fstab(sandbox)
    assert "fs-0123abcd.efs.eu-west-1.amazonaws.com:/ /efs nfs4 nfsvers=4.1,_netdev,nofail," in lines[0]
    assert "noresvport" in lines[0]
    options = "nfsvers=4.1,_netdev,nofail,x-systemd.mount-timeout=60s,nosuid,nodev"
    assert lines[1] == f"nas.internal:/exports/team /shared nfs4 {options} 0 0"
    installed = [c for c in sandbox.calls("apt-get") if "install" in c]
    assert installed and installed[0][-1] == "nfs-common"


def test_bucket_mounts_run_as_services(sandbox: Sandbox, write_profile) -> None:
    sandbox.answer("mountpoint", "/s3", exit_code=0)
    profile = write_profile(
        "name: m\nmounts: [{path: /s3, type: s3, bucket: team-data, read_only: true, prefix: raw/}]\n"
    )
    assert sandbox.boot(render_text(profile, "bash")).returncode == 0
    unit = sandbox.read("/etc/systemd/system/bootstrap-mount-s3.service")
    assert "ExecStart=/usr/bin/mount-s3 --foreground --read-only --prefix raw/ team-data /s3\n" in unit
    assert ["systemctl", "enable", "--now", "bootstrap-mount-s3.service"] in sandbox.calls("systemctl")


@pytest.mark.parametrize(
    ("mount", "message"),
    [
        ("{path: /data, type: block}", "a block mount needs 'device'"),
        ("{path: /data, type: nfs, server: a}", "a nfs mount needs 'export'"),
        ("{path: /data, type: s3, bucket: abc, server: x}", "'server' does not apply to a s3 mount"),
        ("{path: /etc, type: nfs, server: a, export: /x}", "refusing to mount over /etc"),
        ("{path: /d, type: block, device: {label: a, uuid: '12345678'}}", "has too many properties"),
        ("{path: /d, type: efs, file_system_id: fs-xyz}", "is not valid (fs-0123...)"),
    ],
)
def test_mount_validation(write_profile, mount: str, message: str) -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile(str(write_profile(f"name: m\nmounts: [{mount}]\n")))
    assert message in str(caught.value)
