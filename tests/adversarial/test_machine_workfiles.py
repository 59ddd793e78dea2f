"""Root's downloads and work files never go by a fixed name through a folder every user can write.

/tmp and /var/tmp are world-writable (sticky): a user can create any name there before root does,
as a link to a system file (root's download then overwrites it) or as a file of their own (root's
download then lands in a file that user can rewrite before root installs it). Root works in a
fresh private folder instead (lib.sh's work_dir), and no rendered script names a fixed path under
either folder.
"""

from __future__ import annotations

import os
import re

import pytest

from bootstrap.checks.mime import split
from bootstrap.errors import RenderError
from bootstrap.planner import build_plan
from bootstrap.profile import builtin_profiles, load_profile
from bootstrap.targets import TARGETS, Variant, render
from bootstrap.targets.bundle import machine_files

from ..conftest import render_text
from ..sandbox import Sandbox
from ..test_boundary_machine import plant_link, uid_of

S3 = "name: w\nusers: [{name: alice}]\nmounts: [{path: /s3, type: s3, bucket: team-data}]\n"
GPU = "name: w\nusers: [{name: alice}]\nnvidia: {driver: '580'}\n"
H100 = "00:1e.0 0302: 10de:2330 (rev a1)\n"
ATTACKS = {  # profile, the name today's step downloads to, the command that installs it
    "mount-s3": (S3, "/var/tmp/mount-s3.deb", "apt-get"),
    "cuda-keyring": (GPU, "/var/tmp/cuda-keyring.deb", "dpkg"),
}


def shared_tmp(sandbox: Sandbox) -> None:
    for folder in ("/tmp", "/var/tmp"):
        sandbox.path(folder).chmod(0o1777)  # as on every machine


@pytest.mark.parametrize("how", ["link-to-system-file", "own-file"])
@pytest.mark.parametrize("what", sorted(ATTACKS))
def test_a_name_planted_in_var_tmp_does_not_reach_roots_download(sandbox: Sandbox, write_profile, what: str,
                                                                 how: str) -> None:  # fmt: skip
    profile, name, installer = ATTACKS[what]
    shared_tmp(sandbox)
    sandbox.set_stub("lspci", output=H100)
    sandbox.set_stub("modprobe", exit_code=1)
    sandbox.answer("mountpoint", "/s3", exit_code=0)  # the FUSE service mounted it
    script = render_text(write_profile(profile), "bash")
    sandbox.run("useradd", "--create-home", "alice")  # alice is on the machine before this boot
    alice = uid_of(sandbox, "alice")
    sandbox.path("/etc/precious").write_text("root's\n")
    for planted in (name, name + ".part"):  # the download's own name and its partial file
        if how == "link-to-system-file":
            plant_link(sandbox, planted, "/etc/precious", alice)
        else:
            path = sandbox.path(planted)
            path.write_text("alice's package\n")
            os.chown(path, alice, alice)
            path.chmod(0o666)
    result = sandbox.boot(script)
    assert sandbox.read("/etc/precious") == "root's\n", "root's download went through alice's link"
    for planted in (name, name + ".part"):  # alice's names are left as she made them, unused
        path = sandbox.path(planted)
        assert path.is_symlink() or path.read_text() == "alice's package\n"
    installs = [arg for call in sandbox.calls(installer) for arg in call if arg.endswith(".deb")]
    assert installs, result.stdout
    for deb in installs:
        assert not deb.startswith(("/tmp/", "/var/tmp/")), f"{installer} installed {deb}, a name alice can plant"
    assert result.returncode == 0, result.stdout


# A fixed name under a shared temporary folder: a path that starts there, not a random one a tool picks.
SHARED_TMP = re.compile(r"(?<![\w.$/-])/(?:var/)?tmp(?:/|\b)")
EVERYTHING = """\
name: everything
users:
  - name: alice
    groups: [team]
    ssh_authorized_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBexampleexampleexampleexample0 a']
packages: [htop]
timezone: Europe/Paris
hostname: box
env: {A: b}
files: [{path: /etc/x.conf, content: x}]
mounts:
  - {path: /data, type: block, device: {label: d}}
  - {path: /nfs, type: nfs, server: nas, export: /x}
  - {path: /efs, type: efs, file_system_id: fs-0123abcd}
  - {path: /s3, type: s3, bucket: team-data}
  - {path: /gcs, type: gcs, bucket: team-data}
secrets:
  - {name: a, from: 'aws-ssm:/a'}
  - {name: b, from: 'aws-secretsmanager:b'}
  - {name: c, from: 'gcp-secretmanager:projects/p/secrets/c/versions/1'}
conda:
  group: team
  environments:
    - {name: ds, spec: {dependencies: [python, jupyterlab]}, kernel: true}
    - {name: remote, url: 's3://team/remote.yml'}
nvidia: {driver: '580', cuda: '13.0', cudnn: true}
services:
  units: [{name: app, command: 'sleep 1', user: alice}]
  jupyter: {user: alice, conda_env: ds}
idle_shutdown: {after_minutes: 30}
verify: ['true']
"""


def rendered_texts(everything: str) -> list[tuple[str, str]]:
    """(where, text) of every script the built-in profiles and a profile with every feature render."""
    plans = [(name, build_plan(load_profile(name))) for name in sorted(builtin_profiles())]
    plans.append(("everything", build_plan(load_profile(everything))))
    texts = []
    for name, plan in plans:
        for target in TARGETS:
            try:
                parts, _ = split(render(plan, target).data)
            except RenderError:  # "everything" is over EC2's limit: its parts are cloud-init's, read there
                assert target == "ec2" and name == "everything"
                continue
            texts += [(f"{name}.{target}:{part.filename}", part.text) for part in parts]
            texts += [(f"{name}.{target}:{f.path}", f.content) for f in machine_files(plan, target, Variant.BAKE)]
    return texts


def test_no_rendered_script_names_a_fixed_path_under_tmp(write_profile) -> None:
    offenders = []
    for where, text in rendered_texts(str(write_profile(EVERYTHING))):
        for number, line in enumerate(text.splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue  # a comment that names the folders, not a use of them
            if SHARED_TMP.search(line):
                offenders.append(f"{where}:{number}: {line.strip()}")
    assert not offenders, "use work_dir (a fresh folder only root can write):\n" + "\n".join(offenders[:20])


def test_the_lint_sees_what_it_looks_for() -> None:
    assert SHARED_TMP.search("fetch https://x/y.deb /var/tmp/mount-s3.deb")
    assert SHARED_TMP.search("cd /tmp && make")
    assert not SHARED_TMP.search('tmp=$(mktemp "$path.XXXXXX")') and not SHARED_TMP.search("$dir/tmp/x")
