"""validate refuses what the runner refuses about mount points and what is written through them.

Each rule runs the real command, ``python -m bootstrap validate FILE`` (exit 2, the message at
``file:line:column``), and beside it the evidence that the machine fails without the check: the
profile planned as it was before the checks (``unchecked_script``) and booted in the sandbox, where
the runner's ``mount_point`` and ``put_file`` (templates/runner/lib.sh.j2, ``root_only``) refuse it.
What the runner accepts stays valid, and boots.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bootstrap.distro import all_distros
from bootstrap.features.mounts import steps
from bootstrap.profile import load_profile

from .conftest import unchecked_script
from .sandbox import Sandbox
from .test_validate_rules import refused, validate, write

NFS = "type: nfs, server: nas.internal, export: /exports/team"


def boot(sandbox: Sandbox, tmp_path, text: str) -> str:
    """The unchecked profile's boot in the sandbox; its output, with the exit status first."""
    profile = tmp_path / "unchecked.yaml"
    profile.write_text(text)
    result = sandbox.boot(unchecked_script(profile))
    return f"rc={result.returncode}\n{result.stdout}{result.stderr}"


# --- 1. a mount inside a mount a user other than root can change ---------------------------------

OUTER = [
    ("owner: alice", "its owner alice can change it"),
    ("owner: 'alice:alice', mode: '0700'", "its owner alice can change it"),
    ("mode: '0777'", "its mode 0777 lets every user change it"),
    (
        "mode: '1777'",
        "its mode 1777 makes it a shared sticky folder, where any user may create a name before root does",
    ),
    ("owner: 'root:team', mode: '2775'", "its mode 2775 lets any member of group team change it"),
    ("owner: 'root:root', mode: '0775'", "its mode 0775 lets any member of group root change it"),
]


@pytest.mark.parametrize(("outer", "why"), OUTER)
def test_a_mount_inside_a_user_changeable_mount_is_refused(tmp_path, outer: str, why: str) -> None:
    """At the inner mount's path, naming the outer mount's line. The inner one is listed first: the
    mounts step mounts parent first whatever the profile's order."""
    write(tmp_path, {"profile.yaml": f"""\
        name: m
        users: [{{name: alice, groups: [team]}}]
        mounts:
          - {{path: /data/scratch, {NFS}}}
          - {{path: /data, {outer}, {NFS}}}
        """})  # fmt: skip
    stderr = refused(tmp_path, "profile.yaml:4:12",
                     f"mount point /data/scratch is inside the mount at /data (profile.yaml:5), and {why}: the "
                     "runner will not mount through a folder a user other than root can change")  # fmt: skip
    assert "hint: mount it beside /data (e.g. path: /mnt/scratch) and link to it from there" in stderr


@pytest.mark.parametrize(("outer", "why"), OUTER[::2])
def test_a_mount_inside_a_user_changeable_mount_stops_the_boot(sandbox: Sandbox, tmp_path, outer: str,
                                                               why: str) -> None:  # fmt: skip
    """Before the check: the outer mount is mounted and handed to its owner and mode, then the runner
    refuses the inner mount point; its hint no longer sends the user to /data, the very mount."""
    mounts = f"  - {{path: /data, {outer}, {NFS}}}\n  - {{path: /data/scratch, {NFS}}}\n"
    out = boot(sandbox, tmp_path, "name: m\nusers: [{name: alice, groups: [team]}]\nmounts:\n" + mounts)
    assert not out.startswith("rc=0"), out
    assert "refusing to mount on /data/scratch: /data can be changed by a user other than root" in out
    assert "mount outside home folders (e.g. /data)" not in out
    assert "mount it where only root can change the folders on the way (not in a home folder, a scratch folder" in out
    assert "or a mount that a user owns or may write; e.g. under /mnt) and link to it from there" in out


def test_a_mount_inside_a_root_mount_still_validates_and_boots(sandbox: Sandbox, tmp_path) -> None:
    """A root-owned 0755 outer mount (or one that says nothing of owner and mode) is passed through;
    the inner one may be a user's."""
    text = f"""\
        name: m
        users: [{{name: alice, groups: [team]}}]
        mounts:
          - {{path: /data/alice, owner: alice, mode: '0700', {NFS}}}
          - {{path: /data, mode: '0755', {NFS}}}
          - {{path: /srv/a/../team/inner, {NFS}}}
          - {{path: /srv/team, owner: 'root:team', mode: '2755', {NFS}}}
        """
    write(tmp_path, {"profile.yaml": text})
    result = validate(tmp_path)
    assert result.returncode == 0, result.stderr
    out = boot(sandbox, tmp_path, (tmp_path / "profile.yaml").read_text())
    assert out.startswith("rc=0"), out


def test_the_mounts_step_mounts_parents_first_by_the_normal_path(tmp_path) -> None:
    """/srv/a/../team/inner sorts before /srv/team as written, but is inside it: mounted first, it
    would be hidden by /srv/team mounted over it."""
    write(tmp_path, {"profile.yaml": f"name: m\nmounts:\n  - {{path: /srv/team, {NFS}}}\n"
                                     f"  - {{path: /srv/a/../team/inner, {NFS}}}\n"})  # fmt: skip
    profile = load_profile(str(tmp_path / "profile.yaml"))
    context = SimpleNamespace(distro=all_distros()["debian"])  # what a feature reads of the plan's context
    body = next(step for step in steps(profile.data["mounts"], context) if step.id == "mounts").script
    calls = [line for line in body.splitlines() if line.startswith("mount_nfs ")]
    assert [call.split()[1] for call in calls] == ["/srv/team", "/srv/a/../team/inner"]


# --- 2. mount points in folders every user may write ----------------------------------------------

SHARED = [
    ("/tmp/scratch", "mount point /tmp/scratch is in /tmp, a folder every user may write (sticky, mode 1777)"),
    ("/var/tmp/cache", "mount point /var/tmp/cache is in /var/tmp, a folder every user may write"),
    ("/dev/shm/big", "mount point /dev/shm/big is in /dev/shm, a folder every user may write"),
    ("/var/./tmp//x", "mount point /var/tmp/x is in /var/tmp"),
    ("/tmp", "mount point /tmp is a scratch folder every user may write (mode 1777): systemd-tmpfiles may empty it"),
    ("/var/tmp", "mount point /var/tmp is a scratch folder every user may write"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "message"), SHARED)
def test_mount_points_in_shared_scratch_folders_are_refused(tmp_path, path: str, message: str) -> None:
    write(tmp_path, {"profile.yaml": f"name: m\nmounts:\n  - {{path: {path}, {NFS}}}\n"})
    stderr = refused(tmp_path, "profile.yaml:3:12", message)
    assert "hint: mount it at /data/" in stderr and " or /mnt/" in stderr


@pytest.mark.parametrize("path", ["/tmp/scratch", "/var/tmp/cache"])
def test_a_mount_point_in_a_sticky_folder_stops_the_boot(sandbox: Sandbox, tmp_path, path: str) -> None:
    """/tmp and /var/tmp are root's, mode 1777, on the machine (the sandbox makes /var/tmp 0755): the
    runner will not create a name in them, which another user could have taken first."""
    sandbox.path("/var/tmp").chmod(0o1777)
    out = boot(sandbox, tmp_path, f"name: m\nmounts:\n  - {{path: {path}, {NFS}}}\n")
    assert not out.startswith("rc=0"), out
    folder = path.rsplit("/", 1)[0]
    assert f"refusing to mount on {path}: {folder} can be changed by a user other than root" in out
    assert sandbox.calls("mount") == []


# --- 3. root's files and secrets written through a mount a user can change -----------------------

WRITES = [
    # a file of root's (the default owner) in alice's disk
    ("files: [{path: /data/conf/app.conf, content: x}]", "profile.yaml:4:16",
     "file /data/conf/app.conf is root's (owner: root:root) but lies in the mount at /data (profile.yaml:3), and "
     "its owner alice can change it: the runner will not write a file for root through a folder",
     "give it owner: alice"),
    ("files: [{path: /data/app.conf, content: x, owner: 'root:alice'}]", "profile.yaml:4:16",
     "file /data/app.conf is root's (owner: root:alice)", "give it owner: alice"),
    # a secret written there
    ("secrets: [{name: tok, from: 'aws-ssm:/team/tok', path: /data/.tok}]", "profile.yaml:4:56",
     "secret tok (written to /data/.tok) is root's (owner: root:root) but lies in the mount at /data (profile.yaml:3)",
     "or leave out path: (it then goes to /run/bootstrap/secrets/tok)"),
    # a root-owned mount that every user may write, or a sticky one
    ("files: [{path: /scratch/x, content: x}]", "profile.yaml:4:16",
     "file /scratch/x is root's (owner: root:root) but lies in the mount at /scratch (profile.yaml:3), and its mode "
     "0777 lets every user change it", "give it the owner of a user who may write there"),
    ("files: [{path: /sticky/x, content: x}]", "profile.yaml:4:16",
     "file /sticky/x is root's (owner: root:root) but lies in the mount at /sticky (profile.yaml:3), and its mode "
     "1777 makes it a shared sticky folder", "or write it outside /sticky"),
]  # fmt: skip
MOUNTED = (f"name: m\nusers: [{{name: alice}}, {{name: bob}}]\nmounts: [{{path: /data, owner: alice, {NFS}}}, "
           f"{{path: /scratch, mode: '0777', {NFS}}}, {{path: /sticky, mode: '1777', {NFS}}}]\n")  # fmt: skip


@pytest.mark.parametrize(("text", "where", "message", "hint"), WRITES)
def test_roots_files_in_a_user_changeable_mount_are_refused(tmp_path, text: str, where: str, message: str,
                                                            hint: str) -> None:  # fmt: skip
    write(tmp_path, {"profile.yaml": MOUNTED + text + "\n"})
    stderr = refused(tmp_path, where, message)
    assert hint in stderr, stderr


@pytest.mark.parametrize(("text", "refusal"), [
    ("files: [{path: /data/conf/app.conf, content: x}]",
     "refusing to write /data/conf/app.conf as root: /data is not root's alone (owner uid"),
    ("files: [{path: /sticky/x, content: x}]",
     "refusing to write /sticky/x as root: /sticky is not root's alone (owner uid 0, mode 1777)"),
])  # fmt: skip
def test_roots_file_in_a_user_changeable_mount_stops_the_boot(sandbox: Sandbox, tmp_path, text: str,
                                                              refusal: str) -> None:  # fmt: skip
    out = boot(sandbox, tmp_path, MOUNTED + text + "\n")
    assert not out.startswith("rc=0"), out
    assert refusal in out


def test_files_of_the_mounts_users_still_validate_and_boot(sandbox: Sandbox, tmp_path) -> None:
    """Written as their owner (put_file), with that user's rights: alice in her disk, bob in the one
    every user may write; root's in a mount that stays root's."""
    text = (f"name: m\nusers: [{{name: alice}}, {{name: bob}}]\nmounts: [{{path: /data, owner: alice, {NFS}}}, "
            f"{{path: /scratch, mode: '0777', {NFS}}}, {{path: /srv, mode: '0755', {NFS}}}]\n"
            "files:\n"
            "  - {path: /data/conf/app.conf, content: x, owner: alice}\n"
            "  - {path: /data/notes, content: x, owner: 'alice:alice', mode: '0600'}\n"
            "  - {path: /scratch/bob.conf, content: x, owner: bob}\n"
            "  - {path: /srv/root/app.conf, content: x}\n"
            "secrets: [{name: tok, from: 'aws-ssm:/team/tok', path: /data/.tok, owner: alice}]\n")  # fmt: skip
    write(tmp_path, {"profile.yaml": text})
    result = validate(tmp_path)
    assert result.returncode == 0, result.stderr
    sandbox.set_stub("aws", output="token")
    out = boot(sandbox, tmp_path, (tmp_path / "profile.yaml").read_text())
    assert out.startswith("rc=0"), out
    assert sandbox.path("/data/conf/app.conf").stat().st_uid == sandbox.path("/data").stat().st_uid != 0


# --- 4. /home/NAME for a name that is no account ---------------------------------------------------


def test_a_home_like_mount_of_no_account_validates_and_boots(sandbox: Sandbox, tmp_path) -> None:
    """No user 'shared' is declared, and none is a cloud image's default user: the runner makes
    /home/shared root's and mounts there."""
    text = f"name: m\nusers: [{{name: alice}}]\nmounts:\n  - {{path: /home/shared, {NFS}}}\n" \
           f"  - {{path: /home/projects/team, {NFS}}}\n"  # fmt: skip
    write(tmp_path, {"profile.yaml": text})
    result = validate(tmp_path)
    assert result.returncode == 0, result.stderr
    out = boot(sandbox, tmp_path, text)
    assert out.startswith("rc=0"), out
    assert sandbox.calls("mount") == [["mount", "/home/projects/team"], ["mount", "/home/shared"]]


@pytest.mark.parametrize(("name", "image"), [("admin", "Debian's images on AWS"), ("debian", "Debian's generic"),
                                             ("ubuntu", "Ubuntu's images"), ("ec2-user", "Amazon Linux")])  # fmt: skip
def test_mounts_in_a_cloud_default_users_home_stay_refused(tmp_path, name: str, image: str) -> None:
    write(tmp_path, {"profile.yaml": f"name: m\nmounts: [{{path: /home/{name}/data, {NFS}}}]\n"})
    refused(tmp_path, "profile.yaml:2:17", f"mount point /home/{name}/data is in /home/{name}, a home folder: "
            f"{name} is the default user cloud-init makes on {image}")  # fmt: skip
    write(tmp_path, {"profile.yaml": f"name: m\nmounts: [{{path: /home/{name}, {NFS}}}]\n"})
    refused(tmp_path, "profile.yaml:2:17", f"mount point /home/{name} is {name}'s home: {name} is the default user")


def test_a_mount_at_a_declared_users_home_stays_refused(tmp_path) -> None:
    write(tmp_path, {"profile.yaml": f"name: m\nusers: [{{name: shared}}]\nmounts: [{{path: /home/shared, {NFS}}}]\n"})
    refused(tmp_path, "profile.yaml:3:17", "mount point /home/shared is shared's home")


@pytest.mark.parametrize(("path", "hidden"), [
    ("/usr/local", "part of /usr, the system's own tree"),
    ("/var/lib", "/var/lib/bootstrap, /var/lib/cloud, /var/lib/dpkg"),
    ("/var/lib/bootstrap", "/var/lib/bootstrap"),
    ("/var/log", "/var/log"),
    ("/etc/team", "part of /etc"),
])  # fmt: skip
def test_a_mount_over_what_the_system_or_bootstrap_runs_from_is_refused(tmp_path, path: str, hidden: str) -> None:
    """A mount at /usr/local hid the runner's steps (exit 127 at the next step; on later boots fstab
    mounts it before bootstrap.service, so the runner itself is gone); /var/lib its markers and dpkg."""
    write(tmp_path, {"profile.yaml": f"name: m\nmounts: [{{path: {path}, {NFS}}}]\n"})
    refused(tmp_path, "profile.yaml:2:17", f"mount point {path} would hide {hidden}")


def test_mounts_beside_the_system_trees_still_validate(tmp_path) -> None:
    for path in ("/data", "/opt/data", "/srv/team", "/var/lib/docker", "/mnt/scratch"):
        write(tmp_path, {"profile.yaml": f"name: m\nmounts: [{{path: {path}, {NFS}}}]\n"})
        assert validate(tmp_path).returncode == 0, path
