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


def assert_hint(stderr: str, where: str, hint: str) -> None:
    """The problem at ``where`` comes with a hint that says ``hint``."""
    following = stderr.split(f"{where}: error: ", 1)[1].splitlines()
    assert len(following) > 1 and following[1].startswith("  hint: ") and hint in following[1], stderr


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
https://conda.anaconda.org/conda-forge/linux-64/python-3.11.9-hb806964_0_cpython.conda#4f1f6b3e5a1c4ee1b1d2e44b4e3e1d3c
https://conda.anaconda.org/conda-forge/noarch/ipykernel-6.29.5-pyh3099207_0.conda#b40131ab6a36ac2c09b7c57d4d3fbf99
"""
CONDA_LOCK_OK = """\
version: 1
metadata:
  platforms: [linux-64]
  sources: [environment.yml]
  content_hash: {linux-64: 0123abcd}
  channels: [{url: conda-forge, used_env_vars: []}]
package:
  - {name: python, version: 3.11.9, manager: conda, platform: linux-64, dependencies: {},
     hash: {md5: 4f1f6b3e5a1c4ee1b1d2e44b4e3e1d3c},
     url: 'https://conda.anaconda.org/conda-forge/linux-64/python-3.11.9-hb806964_0_cpython.conda'}
  - {name: ipykernel, version: 6.29.5, manager: conda, platform: linux-64, dependencies: {},
     hash: {md5: b40131ab6a36ac2c09b7c57d4d3fbf99},
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
        # pip lines that name nothing of this host, in the forms the local-file rule reads
        ("file: environment.yml", {"environment.yml": "channels: [conda-forge, nvidia/label/cuda-12.1.0, "
                                   "'https://conda.anaconda.org/pytorch']\ndependencies:\n  - python\n  - ipykernel\n"
                                   "  - pip:\n      - torch==2.3\n      - git+https://github.com/x/y.git@v1\n"
                                   "      - https://host/pkg-1.0-py3-none-any.whl\n"
                                   "      - --extra-index-url https://download.pytorch.org/whl/cu121\n"
                                   "      - --index-url=https://pypi.org/simple\n      - -f https://data.pyg.org/whl/\n"
                                   "      - --pre\n      - --only-binary :all:\n      - 'package[extra]>=1'\n"
                                   "      - 'numpy  # pinned by torch'\n      - \"pandas; python_version >= '3.9'\"\n"
                                   "      - tool @ git+ssh://git@github.com/org/tool.git@v1\n"
                                   "      - 'pkg --hash=sha256:0123'\n"}),
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


MD5 = "b40131ab6a36ac2c09b7c57d4d3fbf99"
SHA256 = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
NUMPY = "https://conda.anaconda.org/conda-forge/linux-64/numpy-1.26.4-py311h64a7726_0.conda"
LOCK_PACKAGES = [
    # an @EXPLICIT line: an http(s) URL to NAME-VERSION-BUILD.conda or .tar.bz2, with its md5 or sha256
    ({"ds.lock": f"@EXPLICIT\n{NUMPY}\n"}, "ds.lock:2:1",
     f"package {NUMPY!r} has no hash (#MD5, or #sha256:...): micromamba would install whatever the server sends",
     "regenerate it with hashes: `conda list --explicit --md5`"),
    ({"ds.lock": f"@EXPLICIT\n{NUMPY}#abc\n"}, "ds.lock:2:1",
     f"package {NUMPY!r} has hash '#abc', neither an md5 (32 hex digits) nor a sha256",
     "regenerate it with hashes: `conda list --explicit --md5`"),
    ({"ds.lock": f"@EXPLICIT\n{NUMPY}#sha256:{SHA256[:40]}\n"}, "ds.lock:2:1", "neither an md5", "--md5"),
    ({"ds.lock": f"@EXPLICIT\nFILE:///home/me/pkgs/numpy-1.26.4-0.conda#{MD5}\n"}, "ds.lock:2:1",
     "package 'FILE:///home/me/pkgs/numpy-1.26.4-0.conda' is a file of this host", "lock from the channel's https://"),
    ({"ds.lock": f"@EXPLICIT\n/home/me/pkgs/numpy-1.26.4-0.conda#{MD5}\n"}, "ds.lock:2:1",
     "is a file of this host", "lock from the channel's https://"),
    ({"ds.lock": f"@EXPLICIT\ns3://team/pkgs/numpy-1.26.4-py311h64a7726_0.conda#{MD5}\n"}, "ds.lock:2:1",
     "package 's3://team/pkgs/numpy-1.26.4-py311h64a7726_0.conda' is not an http(s) URL",
     "lock from the channel's https://"),
    ({"ds.lock": f"@EXPLICIT\nhttps://files.example.com/numpy-1.26.4-cp311-none-any.whl#{MD5}\n"}, "ds.lock:2:1",
     "is not a conda package (NAME-VERSION-BUILD.conda or .tar.bz2): micromamba refuses it", "conda-lock -p linux-64"),
    ({"ds.lock": f"@EXPLICIT\nhttps://conda.anaconda.org/conda-forge/linux-64/numpy.conda#{MD5}\n"}, "ds.lock:2:1",
     "is not named NAME-VERSION-BUILD.conda: micromamba refuses it (\"Missing name and version in filename\")",
     "conda-lock -p linux-64"),
    ({"ds.lock": "@EXPLICIT\nconda-forge::numpy=1.26.4\n"}, "ds.lock:2:1",
     "line 'conda-forge::numpy=1.26.4' after @EXPLICIT is not a package URL", "conda-lock -p linux-64"),
    # a conda-lock file's package: url and a hash, as micromamba reads every one
    ({"conda-lock.yml": CONDA_LOCK_OK.replace("     hash: {md5: b40131ab6a36ac2c09b7c57d4d3fbf99},\n", "")},
     "conda-lock.yml:11:5", "conda-lock package 'ipykernel' (linux-64) has no hash: micromamba refuses the lock "
     "(\"either package 'package.info.hash.md5' or 'package.info.hash.sha256' must be specified, found none\")",
     "regenerate it with conda-lock"),
    ({"conda-lock.yml": CONDA_LOCK_OK.replace("{md5: b40131ab6a36ac2c09b7c57d4d3fbf99}", "{md5: ''}")},
     "conda-lock.yml:12:12", "conda-lock package 'ipykernel' (linux-64) has no hash", "regenerate it with conda-lock"),
    ({"conda-lock.yml": CONDA_LOCK_OK.replace("{md5: b40131ab6a36ac2c09b7c57d4d3fbf99}", "{md5: def}")},
     "conda-lock.yml:12:12", "conda-lock package 'ipykernel' (linux-64): hash md5 'def' is neither an md5 (32 hex "
     "digits) nor a sha256 (64): no download can match it", "regenerate it with conda-lock"),
    ({"conda-lock.yml": CONDA_LOCK_OK.replace("     url: 'https://conda.anaconda.org/conda-forge/noarch/",
                                              "     x: '")},
     "conda-lock.yml:11:5", "conda-lock package 'ipykernel' (linux-64) has no url: micromamba stops reading the lock",
     "regenerate it with conda-lock"),
    ({"conda-lock.yml": CONDA_LOCK_OK.replace("'https://conda.anaconda.org/conda-forge/noarch/",
                                              "'file:///home/me/pkgs/")},
     "conda-lock.yml:13:11", "conda-lock package 'ipykernel' (linux-64) is a file of this host "
     "(file:///home/me/pkgs/ipykernel-6.29.5-pyh3099207_0.conda)", "lock from the channel's https://"),
    # every platform's packages are read, not only linux-64's
    ({"conda-lock.yml": CONDA_LOCK_OK + "  - {name: python, version: 3.11.9, manager: conda, platform: osx-arm64, "
      "dependencies: {},\n     url: 'https://conda.anaconda.org/conda-forge/osx-arm64/python-3.11.9-h932a869_0.conda'}\n"},
     "conda-lock.yml:14:5", "conda-lock package 'python' (osx-arm64) has no hash", "regenerate it with conda-lock"),
]  # fmt: skip


@pytest.mark.parametrize(("files", "where", "message", "hint"), LOCK_PACKAGES)
def test_lock_packages_need_an_http_url_and_a_hash(tmp_path: Path, files: dict[str, str], where: str, message: str,
                                                   hint: str) -> None:  # fmt: skip
    """A lock pins the bytes installed only with each package's hash. micromamba's sources:

    * a conda-lock file (libmamba/src/core/env_lockfile.cpp, ``read_package_info``, for every package of
      every platform before it picks linux-64's): ``name``, ``version``, ``manager``, ``platform`` and
      ``url`` read ``as<std::string>()`` (a missing one throws, "YAML parsing error while reading
      environment lockfile"), and with neither ``hash.md5`` nor ``hash.sha256`` it returns "either
      package 'package.info.hash.md5' or 'package.info.hash.sha256' must be specified, found none"; a
      hash of another form can match no download;
    * an @EXPLICIT line (libmamba/src/specs/package_info.cpp, ``PackageInfo::from_url``): a URL to
      ``.conda``/``.tar.bz2`` ("Missing filename extension." otherwise), NAME-VERSION-BUILD ("Missing
      name and version in filename"), then ``#`` and an md5 of 32 hex digits or a sha256 of 64
      (``sha256:`` before them or not); any other hash is dropped without a word, and a line without
      one installs unverified. conda's explicit format (conda's URL_PAT) takes the same forms, and
      ``conda list --explicit --md5`` and conda-lock's explicit render write them.
    """
    lock = next(iter(files))
    write(tmp_path, {"profile.yaml": f"name: c\nconda:\n  environments: [{{name: ds, lock: {lock}}}]\n", **files})
    assert_hint(refused(tmp_path, where, message), where, hint)


@pytest.mark.parametrize(
    "lines",
    [
        f"{NUMPY}#{MD5}\n{NUMPY.replace('.conda', '.tar.bz2')}#sha256:{SHA256}\n{NUMPY}#{SHA256}\n",
        f"{NUMPY.replace('https:', 'http:')}#{MD5.upper()}\n",
    ],
)
def test_explicit_lines_with_a_hash_still_validate(tmp_path: Path, lines: str) -> None:
    write(tmp_path, {"profile.yaml": "name: c\nconda:\n  environments: [{name: ds, lock: ds.lock}]\n",
                     "ds.lock": "# platform: linux-64\n@EXPLICIT\n" + lines})  # fmt: skip
    result = validate(tmp_path)
    assert result.returncode == 0, result.stderr


def test_a_conda_lock_with_sha256_hashes_still_validates(tmp_path: Path) -> None:
    lock = CONDA_LOCK_OK.replace(f"md5: {MD5}", f"sha256: {SHA256}")
    write(tmp_path, {"profile.yaml": "name: c\nconda:\n  environments: [{name: ds, lock: conda-lock.yml}]\n",
                     "conda-lock.yml": lock})  # fmt: skip
    result = validate(tmp_path)
    assert result.returncode == 0, result.stderr


# --- 4. a kernel needs ipykernel ------------------------------------------------------------------

KERNELS = [
    ("spec: {dependencies: [python=3.11, pandas]}", {}, "its spec's dependencies"),
    ("spec: {dependencies: [python=3.11, {pip: [ipykernel-tools]}]}", {}, "its spec's dependencies"),
    # nb_conda_kernels runs on jupyter_client alone (its recipe's run requirements: jupyter_client,
    # jupyter_core, psutil): it lists the kernels other environments have, and brings none
    ("spec: {dependencies: [python=3.11, nb_conda_kernels]}", {}, "its spec's dependencies"),
    ("spec: {dependencies: [python=3.11, 'https://conda.anaconda.org/conda-forge/noarch/ipywidgets-8.1.5-pyhd8ed1ab_0"
     ".conda']}", {}, "its spec's dependencies"),
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


IPYKERNEL_CONDA = "https://conda.anaconda.org/conda-forge/noarch/ipykernel-6.29.5-pyh3099207_0.conda"
IPYKERNEL_WHEEL = "https://files.pythonhosted.org/packages/py3/i/ipykernel/ipykernel-6.29.5-py3-none-any.whl"


@pytest.mark.parametrize(
    "package",
    [
        "ipykernel>=6", "conda-forge::ipykernel", "jupyter", "jupyterlab>=4", "jupyter_console",
        # every form of a conda spec: a channel, a version, a build, a bracket, a URL to the package itself
        "ipykernel=6.29", "ipykernel 6.*", "ipykernel==6.29.5=pyh3099207_0", "conda-forge::ipykernel>=6",
        "conda-forge/noarch::ipykernel=6.29=pyh*", "ipykernel[version='>=6']", "IPyKernel", IPYKERNEL_CONDA,
        # packages that bring it: the anaconda metapackage pins the whole distribution, ipykernel in it;
        # nbclassic and ipyparallel depend on it
        "anaconda", "anaconda=2024.06", "nbclassic", "ipyparallel",
    ],
)  # fmt: skip
def test_a_kernel_with_ipykernel_validates(tmp_path: Path, package: str) -> None:
    write(tmp_path, {"profile.yaml": f"name: c\nconda:\n  environments:\n    - {{name: ds, kernel: true, spec: "
                                     f"{{dependencies: [python, \"{package}\"]}}}}\n"})  # fmt: skip
    result = validate(tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "line", [f"ipykernel @ {IPYKERNEL_WHEEL}", IPYKERNEL_WHEEL, "-e git+https://github.com/ipython/ipykernel#egg=ipykernel",
             "git+https://github.com/ipython/ipykernel.git@v6.29.5", "IPyKernel==6.29.5"],
)  # fmt: skip
def test_a_kernel_with_ipykernel_from_pip_validates(tmp_path: Path, line: str) -> None:
    write(tmp_path, {"profile.yaml": f"name: c\nconda:\n  environments:\n    - {{name: ds, kernel: true, spec: "
                                     f"{{dependencies: [python, pip, {{pip: ['{line}']}}]}}}}\n"})  # fmt: skip
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
    # a VCS URL over file: is a repository of this host
    ("git+file:///home/me/tool", "a local repository (git+file:///home/me/tool)"),
    ("tool @ git+file:///home/me/tool@v1", "a local repository (git+file:///home/me/tool@v1)"),
    ("-e git+file:///home/me/tool#egg=tool", "a local repository (git+file:///home/me/tool#egg=tool)"),
    ("hg+file:///srv/hg/tool", "a local repository (hg+file:///srv/hg/tool)"),
    ("svn+file:///srv/svn/tool", "a local repository (svn+file:///srv/svn/tool)"),
    ("bzr+file:///srv/bzr/tool", "a local repository (bzr+file:///srv/bzr/tool)"),
    # a scheme in any case: pip compares it in lower case
    ("FILE:///home/me/tool-1.0-py3-none-any.whl", "a local file (FILE:///home/me/tool-1.0-py3-none-any.whl)"),
    ("tool @ File:///home/me/tool", "a local file (File:///home/me/tool)"),
    ("-r FILE:reqs.txt", "a local file (FILE:reqs.txt)"),
    # an option abbreviated as optparse takes it, or its value after '=' or glued to a short option
    ("--constr constraints.txt", "a constraints file (constraints.txt)"),
    ("--requirem reqs.txt", "a requirements file (reqs.txt)"),
    ("--edit .", "a local project (.)"),
    ("--editable=../tool", "a local project (../tool)"),
    ("-rfile.txt", "a requirements file (file.txt)"),
    ("-e.", "a local project (.)"),
    ("--pre -r reqs.txt", "a requirements file (reqs.txt)"),
    ("-r reqs.txt  # pinned", "a requirements file (reqs.txt)"),
    # an archive by its name, in any case: pip compares extensions in lower case
    ("tool-1.0-py3-none-any.WHL", "a local path (tool-1.0-py3-none-any.WHL)"),
    ("tool-1.0.TAR.GZ", "a local path (tool-1.0.TAR.GZ)"),
    ("tool-1.0.Zip", "a local path (tool-1.0.Zip)"),
    ("tool-1.0.tar.xz", "a local path (tool-1.0.tar.xz)"),
    # an index or a folder of archives here
    ("-i file:///srv/simple", "a local file (file:///srv/simple)"),
    ("--index-url file:///srv/simple", "a local file (file:///srv/simple)"),
    ("--extra-index-url /srv/simple", "a local index (/srv/simple)"),
    ("-f /local/dir", "a local folder (/local/dir)"),
    ("--find-links=file:///srv/wheels", "a local file (file:///srv/wheels)"),
    ("--find wheels", "a local folder (wheels)"),
]  # fmt: skip


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


PIP_STOPS = [
    # an unknown option that spells out one and more: optparse does not split "--requirements" into
    # --requirement and "s=x.txt"
    ("--requirements=x.txt", "no such option: --requirements", "the option is --requirement"),
    ("--constraints c.txt", "no such option: --constraints", "the option is --constraint"),
    ("--requir x.txt", "ambiguous option: --requir (--require-hashes, --requirement?)",
     "write the option out in full: one of --require-hashes, --requirement"),
    ("--e .", "ambiguous option: --e (--editable, --extra-index-url?)",
     "write the option out in full: one of --editable, --extra-index-url"),
    ("-r", "-r option requires 1 argument", "give the option its value on the same line"),
    ("--pre=yes", "--pre option does not take a value", "write the option alone"),
]  # fmt: skip


@pytest.mark.parametrize(("line", "error", "hint"), PIP_STOPS)
def test_pip_lines_pip_stops_at_are_refused(tmp_path: Path, line: str, error: str, hint: str) -> None:
    """pip reads the pip section with optparse (pip/_internal/req/req_file.py, build_parser): a prefix
    of one long option is that option, of several an error, and a name that is no option an error;
    pip then stops (shown with the real pip below), and micromamba's environment build with it."""
    write(tmp_path, {"profile.yaml": "name: c\nconda: {environments: [{name: ds, file: env.yml}]}\n",
                     "env.yml": f"dependencies:\n  - python\n  - pip:\n      - numpy\n      - '{line}'\n"})  # fmt: skip
    stderr = refused(tmp_path, "env.yml:5:9", f'pip line {line!r}: pip stops at it ("{error}")')
    assert_hint(stderr, "env.yml:5:9", hint)


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
        ("--constr constraints.txt", "Could not open requirements file"),
        ("-rfile.txt", "Could not open requirements file"),
        ("tool-1.0-py3-none-any.WHL", "No such file or directory"),
        ("--requirements=x.txt", "no such option: --requirements"),
        ("--requir x.txt", "ambiguous option: --requir (--require-hashes, --requirement?)"),
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


# --- 6. channels that are folders of this host ---------------------------------------------------

INLINE = "  environments: [{name: ds, spec: {dependencies: [python]}}]\n"
CHANNELS = [
    ({"profile.yaml": "conda:\n  channels: [conda-forge, 'file:///srv/channel']\n" + INLINE},
     "profile.yaml:3:27", "conda.channels: channel 'file:///srv/channel' is a folder of this host"),
    ({"profile.yaml": "conda:\n  channels: ['FILE:///srv/channel']\n" + INLINE},
     "profile.yaml:3:14", "channel 'FILE:///srv/channel' is a folder of this host"),
    ({"profile.yaml": "conda:\n  channels: [/srv/conda-channel, conda-forge]\n" + INLINE},
     "profile.yaml:3:14", "channel '/srv/conda-channel' is a folder of this host"),
    ({"profile.yaml": "conda:\n  channels: [./channel]\n" + INLINE},
     "profile.yaml:3:14", "channel './channel' is a folder of this host"),
    ({"profile.yaml": "conda:\n  environments: [{name: ds, spec: {channels: ['~/channel'], "
                      "dependencies: [python]}}]\n"},
     "profile.yaml:3:47", "the spec of environment 'ds': channel '~/channel' is a folder of this host"),
    ({"profile.yaml": "conda:\n  environments: [{name: ds, file: env.yml}]\n",
      "env.yml": "channels:\n  - conda-forge\n  - ../local-channel\ndependencies: [python]\n"},
     "env.yml:3:5", "environment file 'env.yml': channel '../local-channel' is a folder of this host"),
]  # fmt: skip


@pytest.mark.parametrize(("files", "where", "message"), CHANNELS)
def test_local_channels_are_refused(tmp_path: Path, files: dict[str, str], where: str, message: str) -> None:
    """A channel is where micromamba fetches an index (CHANNEL/linux-64/repodata.json and noarch/) at
    boot; a file: URL or a path (conda and micromamba read '/srv/channel', './channel', '~/channel' as
    the local channel there) names a folder of this host, which the spec travels without: on the
    machine the folder is not there, and the solve has no index to read from it."""
    write(tmp_path, {**files, "profile.yaml": "name: c\n" + files["profile.yaml"]})
    stderr = refused(tmp_path, where, message + ": the machine does not have it")
    assert_hint(stderr, where, "serve the channel over https://")


def test_channels_no_spec_reads_are_not_refused(tmp_path: Path) -> None:
    """conda.channels are those of an inline spec that names none of its own: here no spec reads them."""
    write(tmp_path, {"profile.yaml": """\
        name: c
        conda:
          channels: ['file:///srv/channel']
          environments:
            - {name: ds, spec: {channels: [conda-forge], dependencies: [python]}}
            - {name: other, file: env.yml}
        """, "env.yml": "channels: [conda-forge, nvidia/label/cuda-12.1.0]\ndependencies: [python]\n"})  # fmt: skip
    result = validate(tmp_path)
    assert result.returncode == 0, result.stderr


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
