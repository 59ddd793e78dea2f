"""conda: verified micromamba, environments rebuilt only when their spec changes."""

from __future__ import annotations

import hashlib

import pytest

from bootstrap.errors import ProfileError
from bootstrap.profile import load_profile

from .conftest import render_text
from .sandbox import Sandbox

MM = "/opt/conda/bin/micromamba"
PROFILE = """\
name: ds
conda:
  group: team
  environments:
    - name: ds
      spec: {dependencies: [python=3.11, pandas, ipykernel]}
      kernel: true
"""


def with_micromamba(sandbox: Sandbox) -> None:
    sandbox.install_stub(MM)
    sandbox.answer("micromamba", "--version", "2.0.5")


def mm_calls(sandbox: Sandbox) -> list[list[str]]:
    return [c[1:] for c in sandbox.calls("micromamba") if c[1:] != ["--version"]]


def test_environment_built_once_and_rebuilt_on_change(sandbox: Sandbox, write_profile) -> None:
    with_micromamba(sandbox)
    result = sandbox.boot(render_text(write_profile(PROFILE), "bash"))
    assert result.returncode == 0, result.stdout
    assert sandbox.calls("curl") == []  # the right micromamba is already there
    # a group's environment: copies, never hardlinks into root's package cache
    assert mm_calls(sandbox) == [["env", "create", "-y", "-n", "ds", "-f", "/opt/conda/specs/ds.yml", "--always-copy"]]
    spec = sandbox.read("/opt/conda/specs/ds.yml")
    assert "name: ds\nchannels:\n- conda-forge\ndependencies:\n- python=3.11\n" in spec
    marker = sandbox.read("/var/lib/bootstrap/conda/ds.spec-sha256").strip()  # root's, not in the group's tree
    assert marker == hashlib.sha256(spec.encode()).hexdigest()
    assert ["python", "-m", "ipykernel", "install", "--prefix", "/usr/local", "--name", "ds", "--display-name",
            "Python (ds)"] in sandbox.calls("python")  # fmt: skip
    assert sandbox.path("/opt/conda/envs/ds").stat().st_mode & 0o2070 == 0o2070  # group rwx + setgid

    sandbox.new_instance("i-2")  # same spec: nothing to build
    sandbox.clear_calls()
    assert sandbox.boot().returncode == 0
    assert mm_calls(sandbox) == []

    changed = write_profile(PROFILE.replace("pandas", "polars"))
    sandbox.clear_calls()
    assert sandbox.boot(render_text(changed, "bash")).returncode == 0
    # the old tree is retired and removed by root, not by `micromamba env remove` (which trusts its records)
    assert mm_calls(sandbox) == [["env", "create", "-y", "-n", "ds", "-f", "/opt/conda/specs/ds.yml", "--always-copy"]]
    assert [p.name for p in sandbox.path("/opt/conda/envs").iterdir()] == ["ds"]


def test_micromamba_download_is_verified(sandbox: Sandbox, write_profile) -> None:
    result = sandbox.boot(render_text(write_profile(PROFILE), "bash"))
    assert result.returncode == 1
    assert "micromamba 2.0.5-0 does not match its sha256 cdf5a2e1" in result.stdout
    assert "releases/download/2.0.5-0/micromamba-linux-64" in " ".join(sandbox.calls("curl")[0])
    assert not sandbox.exists(MM) and not sandbox.exists(MM + ".download")


def test_a_verified_download_is_installed(sandbox: Sandbox, write_profile) -> None:
    digest = hashlib.sha256(b"stub download\n").hexdigest()  # what the curl stub serves
    text = PROFILE.replace("  group: team\n", f"  micromamba: {{version: 9.9.9-0, sha256: '{digest}'}}\n")
    result = sandbox.boot(render_text(write_profile(text), "bash"))
    assert "micromamba 9.9.9-0 installed (sha256 verified)" in result.stdout
    assert sandbox.read(MM) == "stub download\n"


def test_an_s3_spec_installs_the_aws_cli_or_says_it_is_needed(sandbox: Sandbox, write_profile) -> None:
    """Only the secrets feature installed awscli: an s3:// spec alone died at 'aws: command not found'."""
    with_micromamba(sandbox)
    (sandbox.root / "stubs" / "aws").unlink()  # an image without the AWS CLI; the stub apt installs nothing
    profile = write_profile("name: r\nconda: {environments: [{name: remote, url: 's3://team/envs/remote.yml'}]}\n")
    result = sandbox.boot(render_text(profile, "bash"))
    assert any("awscli" in call for call in sandbox.calls("apt-get")), sandbox.calls("apt-get")
    assert result.returncode != 0
    assert "the AWS CLI is needed to fetch s3://team/envs/remote.yml" in result.stdout + result.stderr


def test_url_specs_are_refetched_every_boot(sandbox: Sandbox, write_profile) -> None:
    with_micromamba(sandbox)
    sandbox.set_stub("aws", output="name: remote\ndependencies: [python=3.12]\n")
    profile = write_profile("name: r\nconda: {environments: [{name: remote, url: 's3://team/envs/remote.yml'}]}\n")
    assert sandbox.boot(render_text(profile, "bash")).returncode == 0
    assert ["aws", "s3", "cp", "--only-show-errors", "s3://team/envs/remote.yml", "/opt/conda/specs/remote.yml"] in \
        sandbox.calls("aws")  # fmt: skip
    sandbox.clear_calls()
    assert sandbox.boot().returncode == 0  # same remote spec: fetched, nothing rebuilt
    assert sandbox.calls("aws") and mm_calls(sandbox) == []
    sandbox.set_stub("aws", output="name: remote\ndependencies: [python=3.13]\n")
    sandbox.clear_calls()
    assert sandbox.boot().returncode == 0
    assert ["env", "create", "-y", "-n", "remote", "-f", "/opt/conda/specs/remote.yml"] in mm_calls(sandbox)


def test_lock_and_file_specs_are_embedded(sandbox: Sandbox, write_profile, tmp_path) -> None:
    (tmp_path / "env.yml").write_text("name: x\ndependencies: [numpy]\n")
    (tmp_path / "ds.lock").write_text("@EXPLICIT\nhttps://conda.anaconda.org/conda-forge/linux-64/"
                                      "numpy-2.1.3-py311h71ddf71_0.conda#111446b3a1ea57c0e1f9e48a29ec1d9e\n")
    with_micromamba(sandbox)
    profile = write_profile("name: l\nconda: {environments: [{name: a, file: env.yml}, {name: b, lock: ds.lock}]}\n")
    assert sandbox.boot(render_text(profile, "bash")).returncode == 0
    assert sandbox.read("/opt/conda/specs/a.yml") == "name: x\ndependencies: [numpy]\n"
    assert ["create", "-y", "-n", "b", "-f", "/opt/conda/specs/b-lock.txt"] in mm_calls(sandbox)


@pytest.mark.parametrize(
    ("envs", "message"),
    [
        ("[{name: a}]", "give exactly one of spec, file, lock, url"),
        ("[{name: a, spec: {}, url: 'https://x/y.yml'}]", "give exactly one of"),
        ("[{name: a, file: missing.yml}]", "conda file 'missing.yml' not found"),
        ("[{name: a, url: 'ftp://x/y'}]", "an https://, s3:// or gs:// URL"),
    ],
)
def test_conda_validation(write_profile, envs: str, message: str) -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile(str(write_profile(f"name: c\nconda: {{environments: {envs}}}\n")))
    assert message in str(caught.value)
