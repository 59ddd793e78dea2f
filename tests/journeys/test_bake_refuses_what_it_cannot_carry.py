"""A bake (its dry run too) refuses, at the profile line, a golden image that would not hold what
the profile says: a builder runs only the image-scope first-boot steps, so a baked step that needs
a mount, a secret or another instance step ran without it. Before, `bake --dry-run` said the plan
and the image came out wrong (a clone onto the builder's root disk, hidden by the data disk on
every instance). Rendering the same profile as user data stays fine."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Run

MOUNT = """\
name: lab
users: [{name: alice}]
mounts:
  - {path: /data, type: block, device: {label: data}, owner: "alice:alice"}
"""
CLONE = MOUNT + """\
commands:
  first_boot:
    - name: clone
      run: "git clone https://example.com/team/data.git /data/repo"
      scope: image
      after: [mounts]
"""
FILE = MOUNT + """\
files:
  - path: /data/README
    content: "team data\\n"
    owner: "alice:alice"
"""
PIP_SECRET = """\
name: lab
secrets:
  - {name: pip-conf, from: "aws-ssm:/team/pip-conf", path: /etc/pip.conf}
conda:
  environments:
    - name: ds
      spec: {channels: [conda-forge], dependencies: [python=3.11, pip, {pip: [private-package]}]}
"""


def write(repo: Path, text: str) -> Path:
    path = repo / "lab.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "line", "said"),
    [
        (CLONE, 10, "cmd-clone is baked into the image (image scope, first boot) but is to run after mounts, "
                    "which a bake does not run (every boot, instance scope)"),
        (FILE, 6, "file /data/README is baked into the image (image scope) but lies under mount point /data"),
        (PIP_SECRET, 3, "secret 'pip-conf' is written to /etc/pip.conf, which the conda step's tools read"),
    ],
    ids=["stated-after-a-mount", "file-under-a-mount", "secret-conda-reads"],
)  # fmt: skip
def test_a_bake_dry_run_refuses_an_image_that_would_not_hold_the_profile(
    bootstrap: Run, repo: Path, text: str, line: int, said: str
) -> None:
    path = write(repo, text)
    result = bootstrap("bake", str(path), "--dry-run", "-b", "local", expect=2)
    assert f"{path.name}:{line}:" in result.stderr and said in result.stderr, result.stderr
    assert "hint:" in result.stderr
    bootstrap("validate", str(path))  # as user data it is fine
    bootstrap("render", str(path), "--target", "cloud-init")


def test_an_instance_scope_clone_after_the_mount_bakes(bootstrap: Run, repo: Path) -> None:
    path = write(repo, CLONE.replace("scope: image", "scope: instance"))
    result = bootstrap("bake", str(path), "--dry-run", "-b", "local")
    assert "would launch" in result.stderr + result.stdout


def test_rebuild_dry_run_refuses_per_profile_what_its_bake_refuses(bootstrap: Run, repo: Path) -> None:
    """A local guest has no cloud secrets: `bake --dry-run -b local` refused the profile, and
    `rebuild --dry-run -b local` said "planned ... test it" for the same file; the real rebuild then
    failed at the test boot. Now the rebuild says would-fail for that profile, plans the other."""
    folder = repo / "team"
    folder.mkdir()
    (folder / "secret.yaml").write_text("name: secret\nsecrets: [{name: t, from: 'aws-ssm:/t'}]\n")
    (folder / "plain.yaml").write_text("name: plain\npackages: [htop]\n")
    bootstrap("bake", "team/secret.yaml", "--dry-run", "-b", "local", expect=2)
    result = bootstrap("rebuild", "team", "--dry-run", "-b", "local", expect=2)
    rows = {line.split()[1]: line.split()[0] for line in result.stdout.splitlines()
            if line.startswith(("planned", "would"))}  # fmt: skip
    assert rows == {"team/secret.yaml": "would-fail", "team/plain.yaml": "planned"}, result.stdout
    assert "a local guest cannot give" in result.stdout + result.stderr
    assert "--no-test" in result.stderr


def test_two_profiles_of_one_name_are_not_baked_over_each_other(bootstrap: Run, repo: Path) -> None:
    """Both planned, both baked into family bootstrap-gpu-ds and channel latest: the second undid the first."""
    folder = repo / "team"
    folder.mkdir()
    (folder / "a.yaml").write_text("name: gpu-ds\npackages: [htop]\n")
    (folder / "b.yaml").write_text("name: gpu-ds\npackages: [jq]\n")
    (folder / "c.yaml").write_text("name: other\npackages: [jq]\n")
    result = bootstrap("rebuild", "team", "--dry-run", "-b", "local", expect=2)
    rows = {line.split()[1]: line.split()[0] for line in result.stdout.splitlines()
            if line.startswith(("planned", "would"))}  # fmt: skip
    assert rows == {"team/a.yaml": "would-fail", "team/b.yaml": "would-fail", "team/c.yaml": "planned"}, result
    assert "profile name 'gpu-ds' is also team/b.yaml's" in result.stdout + result.stderr


def test_export_packer_refuses_what_bake_refuses(bootstrap: Run, repo: Path) -> None:
    """Packer bakes: the template of a profile bake refuses baked the same wrong image, exit 0."""
    path = write(repo, CLONE)
    result = bootstrap("export", "packer", str(path), "-o", str(repo / "out"), expect=2)
    assert "cmd-clone is baked into the image" in result.stderr and not (repo / "out").exists()
    bootstrap("export", "terraform", str(path), "-o", str(repo / "tf"))  # instances from user data: fine


CONDA = "conda:\n  environments:\n    - {name: ds, spec: {channels: [conda-forge], dependencies: [python=3.11]}}\n"


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ("mounts: [{path: /opt/conda/envs, type: nfs, server: nas, export: /envs}]\n",
         "conda is baked into the image under /opt/conda, but /opt/conda/envs is a mount point"),
        ("secrets: [{name: c, from: 'aws-ssm:/c', path: /etc/conda/condarc.d/private.yml}]\n",
         "secret 'c' is written to /etc/conda/condarc.d/private.yml, which the conda step's tools read"),
        ("secrets: [{name: p, from: 'aws-ssm:/p'}]\nenv: {PIP_CONFIG_FILE: /run/bootstrap/secrets/p}\n",
         "secret 'p' is written to /run/bootstrap/secrets/p, which the conda step's tools read"),
    ],
    ids=["mount-below-the-prefix", "condarc-d", "env-names-it"],
)  # fmt: skip
def test_conda_baked_without_its_disk_or_credentials_is_refused(bootstrap: Run, repo: Path, extra: str,
                                                                said: str) -> None:  # fmt: skip
    path = write(repo, "name: lab\n" + extra + CONDA)
    result = bootstrap("bake", str(path), "--dry-run", "-b", "local", "--no-test", expect=2)
    assert said in result.stderr, result.stderr


def test_a_users_own_netrc_is_no_credential_of_the_conda_step(bootstrap: Run, repo: Path) -> None:
    """A W&B login in alice's ~/.netrc: root's pip in the conda step never reads it."""
    path = write(repo, "name: lab\nusers: [{name: alice}]\n"
                 "secrets: [{name: wandb, from: 'aws-ssm:/w', owner: alice, path: /home/alice/.netrc}]\n" + CONDA)
    result = bootstrap("bake", str(path), "--dry-run", "-b", "local", "--no-test")
    assert "would launch" in result.stderr + result.stdout


def test_a_baked_file_the_seal_wipes_is_refused(bootstrap: Run, repo: Path) -> None:
    """cloud-init clean, in the seal, empties /var/lib/cloud: a per-boot script baked there was gone."""
    path = write(repo, "name: lab\nfiles: [{path: /var/lib/cloud/scripts/per-boot/hello.sh, content: x, "
                 "mode: '0755'}]\n")  # fmt: skip
    result = bootstrap("bake", str(path), "--dry-run", "-b", "local", expect=2)
    assert "the bake's seal wipes it" in result.stderr
