"""validate refuses what the machine would refuse, at the profile line (issue 22, item 3).

Each rule is checked through the real command, ``python -m bootstrap validate FILE``: exit 2 and the
message at ``file:line:column`` (of the profile, or of the environment file that holds the line).
Beside each, the evidence that the machine really fails: the boot itself in the sandbox where it
can show it (the profile planned as it was before the check, straight through build_plan), the
real tool (pip) where the sandbox stubs it, and otherwise, in the docstring, which tool refuses it
and with what words (micromamba, which is not installed here: its 2.0.5 sources, the pinned release).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bootstrap.errors import ProfileError
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile
from bootstrap.targets import render

from .conftest import unchecked_script
from .sandbox import Sandbox

REPO = Path(__file__).resolve().parent.parent
NFS = "type: nfs, server: nas.internal, export: /exports/team"


def validate(folder: Path, profile: str = "profile.yaml") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "bootstrap", "validate", profile], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text))


def refused(folder: Path, where: str, message: str) -> str:
    result = validate(folder)
    assert result.returncode == 2, result
    assert f"{where}: error: " in result.stderr, result.stderr
    line = next(line for line in result.stderr.splitlines() if line.startswith(f"{where}: error: "))
    assert message in line, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


# --- 1. mount points in home folders ------------------------------------------------------------

MOUNTS = [
    # a declared user's home, below it: the runner's refusal (shown in the sandbox below)
    ("users: [{name: alice}]\nmounts: [{path: /home/alice/data, " + NFS + "}]\n", "profile.yaml:3:17",
     "mount point /home/alice/data is inside alice's home: the users step makes /home/alice alice's before the "
     "mounts step"),
    ("users: [{name: alice}]\nmounts: [{path: /home/alice/./notebooks/../data, " + NFS + "}]\n", "profile.yaml:3:17",
     "mount point /home/alice/data is inside alice's home"),
    # the home itself: the mount covers ~/.ssh/authorized_keys that the users step wrote before it
    ("users: [{name: alice, ssh_authorized_keys: ['ssh-ed25519 AAAA a@b']}]\nmounts: [{path: /home/alice, " + NFS
     + "}]\n", "profile.yaml:3:17", "mount point /home/alice is alice's home: the filesystem mounted there hides"),
    # an account the profile does not declare (the cloud's default user, or one made later)
    ("mounts: [{path: /home/ubuntu/data, " + NFS + "}]\n", "profile.yaml:2:17",
     "mount point /home/ubuntu/data is in /home/ubuntu, a home folder"),
    ("mounts: [{path: /root, " + NFS + "}]\n", "profile.yaml:2:17", "mount point /root is root's home"),
    ("users: [{name: alice}]\nmounts: [{path: /root/data, owner: alice, " + NFS + "}]\n", "profile.yaml:3:36",
     "mount point /root/data is inside /root, root's home, which only root may pass through"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "where", "message"), MOUNTS)
def test_mount_points_in_home_folders_are_refused(tmp_path: Path, text: str, where: str, message: str) -> None:
    """Why each fails on the machine (bootstrap/features/mounts.py, _home_problems): the users step goes
    before the mounts step and makes /home/NAME NAME's; the runner's mount_point refuses a path through
    a folder a user other than root can change (shown in the sandbox below). Mounted over a home, the
    filesystem hides what is there, as any mount hides the folder it covers (mount(8)): the
    authorized_keys the ssh-keys step wrote. /root is mode 0700: its other users cannot pass through."""
    write(tmp_path, {"profile.yaml": "name: m\n" + text})
    stderr = refused(tmp_path, where, message)
    assert "hint: mount it outside the home folders (e.g. path: /data" in stderr


def test_mounts_outside_home_folders_still_validate(tmp_path: Path) -> None:
    write(tmp_path, {"profile.yaml": f"""\
        name: m
        users: [{{name: alice}}]
        mounts:
          - {{path: /data, owner: alice, {NFS}}}
          - {{path: /srv/homework, {NFS}}}
          - {{path: /root/cache, {NFS}}}
        """})  # fmt: skip
    result = validate(tmp_path)
    assert result.returncode == 0, result.stderr


def test_a_mount_in_a_users_home_stops_the_boot(sandbox: Sandbox, tmp_path: Path) -> None:
    """Before the check, the profile rendered and the boot failed at the mounts step: useradd had made
    /home/alice alice's, and the runner would not mount through it."""
    profile = tmp_path / "home.yaml"
    profile.write_text(f"name: m\nusers: [{{name: alice}}]\nmounts: [{{path: /home/alice/data, {NFS}}}]\n")
    with pytest.raises(ProfileError, match="inside alice's home"):
        load_profile(str(profile))
    result = sandbox.boot(unchecked_script(profile))
    assert result.returncode != 0, result.stdout
    assert "refusing to mount on /home/alice/data: /home/alice can be changed by a user other than root" in (
        result.stdout + result.stderr
    )
    home = sandbox.path("/home/alice").stat()
    assert home.st_uid != 0  # the users step ran first, and the home is alice's
    assert sandbox.calls("mount") == []


# --- 2. reserved environment names --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("base", "environment name 'base' is the root prefix (/opt/conda), not an environment: micromamba refuses"),
        ("root", "environment name 'root' is conda's other name for base"),
    ],
)
def test_reserved_environment_names_are_refused(tmp_path: Path, name: str, message: str) -> None:
    """micromamba (2.0.5, pinned here; not installed on this host): libmamba/src/api/configuration.cpp,
    ``compute_prefix_from_name``, maps ``-n base`` to the root prefix (/opt/conda, which holds
    micromamba itself), and ``create`` (libmamba/src/api/create.cpp) then stops with
    ``LOG_ERROR << "Overwriting root prefix is not permitted"; throw std::runtime_error("Aborting.")``,
    every retry. conda refuses both names: ``CondaValueError: 'base' is a reserved environment name``
    (conda's check_prefix), and its ``RESERVED_ENV_NAMES`` are ``("base", "root")`` ('root' is base's
    old name: ``conda create -n root`` targets the base prefix, "The target prefix is the base prefix.
    Aborting."). micromamba 2.0.5 alone would build envs/root; conda tools on the machine would not
    find it by name."""
    write(tmp_path, {"profile.yaml": f"name: c\nconda:\n  environments:\n    - {{name: {name}, spec: "
                                     "{dependencies: [python]}}\n"})  # fmt: skip
    stderr = refused(tmp_path, "profile.yaml:4:14", message)
    assert "hint: name it after what it holds" in stderr


# --- 3. what file: and lock: hold ---------------------------------------------------------------

EXPLICIT_OK = """\
# platform: linux-64
@EXPLICIT
https://conda.anaconda.org/conda-forge/linux-64/python-3.11.9-hb806964_0_cpython.conda#abc
https://conda.anaconda.org/conda-forge/noarch/ipykernel-6.29.5-pyh3099207_0.conda
"""
CONDA_LOCK_OK = """\
version: 1
metadata:
  platforms: [linux-64]
  sources: [environment.yml]
  content_hash: {linux-64: 0123abcd}
  channels: [{url: conda-forge, used_env_vars: []}]
package:
  - {name: python, version: 3.11.9, manager: conda, platform: linux-64, dependencies: {}, hash: {md5: abc},
     url: 'https://conda.anaconda.org/conda-forge/linux-64/python-3.11.9-hb806964_0_cpython.conda'}
  - {name: ipykernel, version: 6.29.5, manager: conda, platform: linux-64, dependencies: {}, hash: {md5: def},
     url: 'https://conda.anaconda.org/conda-forge/noarch/ipykernel-6.29.5-pyh3099207_0.conda'}
"""
ENV_OK = "name: ds\nchannels: [conda-forge]\ndependencies: [python=3.11, pandas, ipykernel]\n"

SOURCES = [
    # lock: that is no lock
    ("lock: env.yml", {"env.yml": ENV_OK}, "profile.yaml:3:35",
     "'env.yml' is an environment.yml, not a lock file"),
    ("lock: requirements.txt", {"requirements.txt": "numpy==1.26.4\npandas>=2\n"}, "profile.yaml:3:35",
     "'requirements.txt' is a list of packages, not a lock file: it has no @EXPLICIT line"),
    ("lock: ds.lock", {"ds.lock": "\n# nothing\n"}, "profile.yaml:3:35",
     "lock file 'ds.lock' is empty: micromamba stops at it (\"Got an empty file\")"),
    ("lock: ds.lock", {"ds.lock": "@EXPLICIT\nnumpy-1.26.4\n"}, "ds.lock:2:1",
     "line 'numpy-1.26.4' after @EXPLICIT is not a package URL"),
    ("lock: ds.lock", {"ds.lock": "@EXPLICIT\nfile:///home/me/pkgs/numpy-1.26.4-0.conda\n"}, "ds.lock:2:1",
     "is a file of this host"),
    ("lock: conda-lock.yml", {"conda-lock.yml": CONDA_LOCK_OK.replace("version: 1", "version: 3")},
     "conda-lock.yml:1:10", "conda-lock version 3: micromamba reads version 1 only"),
    ("lock: conda-lock.yml", {"conda-lock.yml": CONDA_LOCK_OK.replace("linux-64", "osx-arm64")},
     "conda-lock.yml:3:14", "has no linux-64 packages (platforms: osx-arm64)"),
    # file: that is no environment.yml
    ("file: ds.lock", {"ds.lock": EXPLICIT_OK}, "profile.yaml:3:35",
     "'ds.lock' is an explicit lock file (@EXPLICIT), not an environment.yml"),
    ("file: conda-lock.yml", {"conda-lock.yml": CONDA_LOCK_OK}, "profile.yaml:3:35",
     "'conda-lock.yml' is a conda-lock file, not an environment.yml"),
    ("file: requirements.txt", {"requirements.txt": "numpy==1.26.4\n-r more.txt\n"}, "profile.yaml:3:35",
     "'requirements.txt' is a list of packages (a pip requirements file?), not an environment.yml"),
    ("file: env.yml", {"env.yml": "# to do\n"}, "profile.yaml:3:35",
     "environment file 'env.yml' is empty: micromamba would build an empty environment"),
    ("file: env.yml", {"env.yml": "name: ds\nchannels: [conda-forge]\n"}, "env.yml:1:1",
     "environment file 'env.yml' has no dependencies"),
    ("file: env.yml", {"env.yml": "name: ds\ndependencies: {python: '3.11'}\n"}, "env.yml:2:15",
     "dependencies must be a list, not mapping"),
    ("spec: {channels: [conda-forge]}", {}, "profile.yaml:3:35",
     "the spec of environment 'ds' has no dependencies"),
]  # fmt: skip


@pytest.mark.parametrize(("source", "files", "where", "message"), SOURCES)
def test_file_and_lock_hold_what_micromamba_takes(tmp_path: Path, source: str, files: dict[str, str], where: str,
                                                  message: str) -> None:  # fmt: skip
    """The spec goes to micromamba on the machine as /opt/conda/specs/NAME.yml (file:, spec:), read by
    ``micromamba env create -f`` as an environment.yml, or as NAME-lock.txt / NAME-lock.yml (lock:),
    read by ``micromamba create -f``. From micromamba 2.0.5's sources (libmamba/src/api/install.cpp,
    ``file_specs_hook`` and ``read_yaml_file``; libmamba/src/core/env_lockfile.cpp):

    * a file is a conda-lock file by its name alone (``-lock.yml``/``-lock.yaml``), an
      environment.yml by ``.yml``, and anything else is a text list: ``@EXPLICIT`` at a line's start
      makes each later line a package URL; without it each line is a MatchSpec to solve at boot (not a
      lock: nothing pinned, and an environment.yml's ``dependencies:`` is no package);
    * an empty text list throws ``"Got an empty file: " + file``;
    * in an environment.yml, ``dependencies`` that are absent, empty or not a sequence are taken as
      none, and ``create`` with no specs makes an empty environment ("Empty environment created at
      prefix"): no error, no python; a conda-lock file has no ``dependencies`` at all, and an
      @EXPLICIT list is not YAML (``@`` is reserved: yaml-cpp's LoadFile throws);
    * a conda-lock file's ``version`` must be 1 ("Failed to read environment lockfile at '...' : unknown
      version '3'"), and packages of another platform give "Selected packages for category 'main' are
      empty. The lockfile might not be resolved for your platform (linux-64)" and nothing installed;
    * a line after @EXPLICIT goes to ``PackageInfo::from_url``: a URL fetched at boot, where a
      ``file://`` of this host is not.
    """
    write(tmp_path, {"profile.yaml": f"name: c\nconda:\n  environments: [{{name: ds, {source}}}]\n", **files})
    refused(tmp_path, where, message)


@pytest.mark.parametrize(
    ("source", "files"),
    [
        ("lock: conda-lock.yml", {"conda-lock.yml": CONDA_LOCK_OK}),
        ("lock: ds.lock", {"ds.lock": EXPLICIT_OK}),
        ("file: environment.yml", {"environment.yml": ENV_OK}),
        ("file: environment.yml", {"environment.yml": "dependencies:\n  - python\n  - pip:\n"
                                   "      - ipykernel==6.29.5\n      - -r https://example.com/reqs.txt\n"
                                   "      - -e git+https://github.com/org/tool#egg=tool\n"
                                   "      - tool @ https://example.com/tool-1.0-py3-none-any.whl\n"}),
        ("spec: {dependencies: [python=3.11, {pip: [ipykernel, 'requests>=2']}]}", {}),
        ("spec: {dependencies: [python=3.11, {'sel(linux)': ipykernel}]}", {}),
    ],
)  # fmt: skip
def test_proper_specs_still_validate(tmp_path: Path, source: str, files: dict[str, str]) -> None:
    write(tmp_path, {"profile.yaml": f"name: c\nconda:\n  environments: [{{name: ds, kernel: true, {source}}}]\n",
                     **files})  # fmt: skip
    result = validate(tmp_path)
    assert result.returncode == 0, result.stderr


def test_a_conda_lock_goes_to_micromamba_by_the_name_it_needs(sandbox: Sandbox, tmp_path: Path) -> None:
    """micromamba tells a conda-lock file by its name (is_env_lockfile_name: ``-lock.yml``): one written as
    NAME-lock.txt would be read line by line as package specs ('version: 1' first). An @EXPLICIT list
    keeps its text name."""
    write(tmp_path, {"profile.yaml": "name: l\nconda: {environments: [{name: a, lock: conda-lock.yml}, "
                                     "{name: b, lock: ds.lock}]}\n",
                     "conda-lock.yml": CONDA_LOCK_OK, "ds.lock": EXPLICIT_OK})  # fmt: skip
    sandbox.install_stub("/opt/conda/bin/micromamba")
    sandbox.answer("micromamba", "--version", "2.0.5")
    plan = build_plan(load_profile(str(tmp_path / "profile.yaml")))
    assert sandbox.boot(render(plan, "bash").data.decode()).returncode == 0
    creates = [c[1:] for c in sandbox.calls("micromamba") if "create" in c]
    assert ["create", "-y", "-n", "a", "-f", "/opt/conda/specs/a-lock.yml"] in creates
    assert ["create", "-y", "-n", "b", "-f", "/opt/conda/specs/b-lock.txt"] in creates
    assert sandbox.read("/opt/conda/specs/a-lock.yml") == CONDA_LOCK_OK


# --- 4. a kernel needs ipykernel ------------------------------------------------------------------

KERNELS = [
    ("spec: {dependencies: [python=3.11, pandas]}", {}, "its spec's dependencies"),
    ("spec: {dependencies: [python=3.11, {pip: [ipykernel-tools]}]}", {}, "its spec's dependencies"),
    ("file: env.yml", {"env.yml": "dependencies: [python=3.11, pip, {pip: [pandas]}]\n"},
     "the dependencies in 'env.yml'"),
    ("lock: ds.lock", {"ds.lock": EXPLICIT_OK.splitlines(keepends=True)[0] + "".join(EXPLICIT_OK.splitlines(
        keepends=True)[1:3])}, "lock file 'ds.lock'"),
]  # fmt: skip


@pytest.mark.parametrize(("source", "files", "where"), KERNELS)
def test_a_kernel_without_ipykernel_is_refused(tmp_path: Path, source: str, files: dict[str, str], where: str) -> None:
    """The boot failure itself is shown in the sandbox below."""
    write(tmp_path, {"profile.yaml": f"name: c\nconda:\n  environments:\n    - {{name: ds, kernel: true, {source}}}\n",
                     **files})  # fmt: skip
    stderr = refused(tmp_path, "profile.yaml:4:26", f"environment 'ds' has kernel: true but no ipykernel in {where}")
    assert "hint: add ipykernel to its dependencies, or set kernel: false" in stderr


@pytest.mark.parametrize(
    "package", ["ipykernel>=6", "conda-forge::ipykernel", "jupyter", "jupyterlab>=4", "jupyter_console"]
)
def test_a_kernel_with_ipykernel_validates(tmp_path: Path, package: str) -> None:
    write(tmp_path, {"profile.yaml": f"name: c\nconda:\n  environments:\n    - {{name: ds, kernel: true, spec: "
                                     f"{{dependencies: [python, '{package}']}}}}\n"})  # fmt: skip
    result = validate(tmp_path)
    assert result.returncode == 0, result.stderr


MICROMAMBA_WITHOUT_IPYKERNEL = """#!/bin/bash
# micromamba as far as this test needs: an environment is built from its spec, here one without ipykernel,
# so its python is a real python that has no ipykernel module
[ "${1:-}" != --version ] || { echo 2.0.5; exit 0; }
prev=""
for a in "$@"; do
  if [ "$prev" = -n ]; then
    mkdir -p "/opt/conda/envs/$a/bin"
    ln -sfn /usr/bin/python3 "/opt/conda/envs/$a/bin/python"
  fi
  prev=$a
done
"""


def test_a_kernel_without_ipykernel_stops_the_boot(sandbox: Sandbox, tmp_path: Path) -> None:
    """Before the check, the profile rendered and the boot stopped where the kernel is registered: the
    environment's python (a real one, without ipykernel) answers "No module named ipykernel"."""
    probe = subprocess.run(["/usr/bin/python3", "-c", "import ipykernel"], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("this host's python3 has ipykernel")
    profile = tmp_path / "kernel.yaml"
    profile.write_text("name: k\nconda: {environments: [{name: ds, kernel: true, spec: {dependencies: [python]}}]}\n")
    with pytest.raises(ProfileError, match="has kernel: true but no ipykernel"):
        load_profile(str(profile))
    micromamba = sandbox.path("/opt/conda/bin/micromamba")
    micromamba.parent.mkdir(parents=True)
    micromamba.write_text(MICROMAMBA_WITHOUT_IPYKERNEL)
    micromamba.chmod(0o755)
    result = sandbox.boot(unchecked_script(profile))
    assert result.returncode != 0, result.stdout
    assert "No module named ipykernel" in result.stdout + result.stderr


# --- 5. pip lines that name a file of this host ---------------------------------------------------

PIP_LINES = [
    ("-r requirements.txt", "a requirements file (requirements.txt)"),
    ("-r file:requirements.txt", "a local file (file:requirements.txt)"),
    ("--requirement=reqs/base.txt", "a requirements file (reqs/base.txt)"),
    ("-c constraints.txt", "a constraints file (constraints.txt)"),
    ("-e .", "a local project (.)"),
    ("--editable ../tool", "a local project (../tool)"),
    ("./vendored/pkg", "a local path (./vendored/pkg)"),
    ("dist/tool-1.0-py3-none-any.whl", "a local path (dist/tool-1.0-py3-none-any.whl)"),
    ("tool @ file:///home/me/tool", "a local file (file:///home/me/tool)"),
]


@pytest.mark.parametrize(("line", "what"), PIP_LINES)
def test_pip_lines_naming_local_files_are_refused_at_their_line(tmp_path: Path, line: str, what: str) -> None:
    """Why they fail, shown with the real pip below: the environment file travels alone (embedded in the
    user data), and micromamba writes the pip section into a temporary requirements file in the
    environment file's folder on the machine (/opt/conda/specs) and runs ``python -m pip install -r
    THAT --no-input --quiet`` there (micromamba 2.0.5, libmamba/src/api/utils.cpp)."""
    write(tmp_path, {"profile.yaml": "name: c\nconda: {environments: [{name: ds, file: env.yml}]}\n",
                     "env.yml": f"name: ds\ndependencies:\n  - python\n  - pip\n  - pip:\n      - numpy\n"
                                f"      - '{line}'\n"})  # fmt: skip
    stderr = refused(tmp_path, "env.yml:7:9", f"pip line {line!r} refers to {what} on this host")
    assert "hint: list the requirements themselves in the pip section, or give a URL" in stderr


def test_pip_lines_in_an_inline_spec_are_refused_too(tmp_path: Path) -> None:
    spec = "        dependencies: [python, {pip: [numpy, -r requirements.txt]}]\n"
    write(tmp_path, {"profile.yaml": "name: c\nconda:\n  environments:\n    - name: ds\n      spec:\n" + spec})
    refused(tmp_path, "profile.yaml:6:46", "pip line '-r requirements.txt' refers to a requirements file")


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("-r requirements.txt", "Could not open requirements file"),
        ("-e .", "does not appear to be a Python project"),
        ("./vendored/pkg", "does not exist"),
    ],
)
def test_pip_refuses_those_lines_where_micromamba_runs_it(tmp_path: Path, line: str, error: str) -> None:
    """The real pip, run as micromamba runs it: a temporary requirements file holding the pip section,
    in a folder that holds the environment file and nothing of the user's (/opt/conda/specs)."""
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "ds.yml").write_text(f"dependencies: [python, pip, {{pip: ['{line}']}}]\n")
    (specs / "mambafabc123").write_text(line + "\n")
    pip = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--no-input", "--quiet"]
    pip += ["-r", "mambafabc123"]
    result = subprocess.run(pip, cwd=specs, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert error in result.stderr, result.stderr


# --- a service's conda_env takes every name conda.environments takes ------------------------------


def test_jupyter_runs_from_an_environment_named_with_an_underscore(tmp_path: Path) -> None:
    (tmp_path / "profile.yaml").write_text(textwrap.dedent("""\
        name: lab
        users: [{name: alice}]
        conda:
          environments: [{name: ml_env, spec: {dependencies: [python, jupyterlab]}}]
        services:
          jupyter: {user: alice, conda_env: ml_env}
    """))
    result = validate(tmp_path)
    assert result.returncode == 0, result.stderr  # refused before: conda_env allowed no '_'
