"""Attacks on the rendering host: a pull request's checkout rendered and checked in CI (often as root)
or in pre-commit on a developer's machine shared with others. Each test is the attack; its
assertion fails when the attack works. SECURITY.md, "The rendering host"."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

needs_checkers = pytest.mark.skipif(shutil.which("shellcheck") is None or shutil.which("cloud-init") is None,
                                    reason="needs shellcheck and cloud-init (tests/run installs them)")  # fmt: skip

PROFILE = "name: pr\npackages: [jq]\ncommands:\n  first_boot: [{name: hello, run: echo hello}]\n"


def plant_canaries(folder: Path, canary: Path, modules: tuple[str, ...]) -> None:
    """Python modules that, imported from ``folder``, leave ``canary`` behind (and then fail)."""
    payload = f"open({str(canary)!r}, 'a').write(__name__ + '\\n')\nraise SystemExit(97)\n"
    for module in modules:
        path = folder / (module.replace(".", "/") + ("/__init__.py" if "." not in module else ".py"))
        if "." in module:  # a package: each level gets its __init__
            parts = module.split(".")
            for depth in range(1, len(parts)):
                init = folder.joinpath(*parts[:depth], "__init__.py")
                init.parent.mkdir(parents=True, exist_ok=True)
                init.write_text(payload)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(payload)


# -- 1. programs bootstrap starts take no code from the checkout --------------------------------


@needs_checkers
def test_check_in_a_checkout_that_shadows_yaml_json_and_cloudinit_runs_none_of_it(hostile_repo: Path, tmp_path: Path,
                                                                                 bootstrap_in) -> None:  # fmt: skip
    canary = tmp_path / "pwned"
    plant_canaries(hostile_repo, canary, ("yaml", "json", "socket", "cloudinit", "cloudinit.config.schema"))
    (hostile_repo / "profile.yaml").write_text(PROFILE)
    result = bootstrap_in(hostile_repo, "check", "profile.yaml",
                          env={"BOOTSTRAP_NO_CHECK_CACHE": "1", "PYTHONPATH": str(hostile_repo)})  # fmt: skip
    assert not canary.exists(), f"the checkout's modules ran: {canary.read_text()}"
    assert result.returncode == 0, result.stderr + result.stdout  # and the validator really ran, cleanly


def test_the_metadata_relay_takes_no_module_from_where_qemu_runs(tmp_path: Path) -> None:
    """QEMU's guestfwd runs the relay through /bin/sh in QEMU's working folder: were that the checkout,
    a bootstrap/localvm/relay.py (or a socket.py) there must not stand in for ours."""
    from bootstrap.localvm.machine import relay_command

    hostile, canary = tmp_path / "checkout", tmp_path / "pwned"
    hostile.mkdir()
    plant_canaries(hostile, canary, ("bootstrap.localvm.relay", "socket", "threading"))
    with socket_closed_port() as port:
        subprocess.run(["sh", "-c", relay_command(port)], cwd=hostile, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=60, env={**os.environ, "PYTHONPATH": str(hostile)})  # fmt: skip
    assert not canary.exists(), f"the checkout's modules ran: {canary.read_text()}"


def socket_closed_port():  # type: ignore[no-untyped-def]
    import contextlib
    import socket

    @contextlib.contextmanager
    def closed():  # type: ignore[no-untyped-def]
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        yield port  # nothing listens there now: the relay's connection is refused at once

    return closed()


def test_a_child_sees_neither_our_folder_nor_the_ci_job_s_secrets(tmp_path: Path, monkeypatch) -> None:
    from bootstrap import hermetic

    monkeypatch.chdir(tmp_path)
    for name, value in (("AWS_SECRET_ACCESS_KEY", "ci-secret"), ("GITHUB_TOKEN", "ci-token"),
                        ("PYTHONPATH", str(tmp_path)), ("BASH_ENV", str(tmp_path / "env.sh")),
                        ("LD_PRELOAD", str(tmp_path / "evil.so"))):  # fmt: skip
        monkeypatch.setenv(name, value)
    (tmp_path / "env.sh").write_text(f"touch {tmp_path / 'pwned'}\n")
    seen = hermetic.run(["bash", "-c", "pwd; env"], timeout=30)
    assert seen.returncode == 0, seen.stderr
    folder, *environment = seen.stdout.splitlines()
    assert Path(folder) == hermetic.private_dir() and Path(folder) != tmp_path
    assert not list(hermetic.private_dir().glob("[!.]*")), "the private folder holds nothing of anyone's"
    assert oct(hermetic.private_dir().stat().st_mode & 0o777) == "0o700"
    names = {line.split("=", 1)[0] for line in environment}
    assert not names & {"AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "PYTHONPATH", "BASH_ENV", "LD_PRELOAD"}
    assert not (tmp_path / "pwned").exists()


def test_a_python_child_must_be_isolated_and_checkers_are_bounded() -> None:
    from bootstrap import hermetic

    with pytest.raises(ValueError, match="isolated"):
        hermetic.run(["python3", "-c", "print(1)"], timeout=10)
    with pytest.raises(hermetic.ToolFailed, match="no answer within"):
        hermetic.run(["sleep", "30"], timeout=0.5)
    greedy = hermetic.run(hermetic.python("python3", "-c", "b = bytearray(1 << 31)"), timeout=60, memory_mb=256)
    assert greedy.returncode != 0 and "MemoryError" in greedy.stderr


# -- 3. shellcheck reads only the scripts we give it -----------------------------------------------


def sourcing_profile(path: str) -> str:
    return textwrap.dedent(f"""\
        name: pr
        commands:
          first_boot:
            - name: peek
              run: |
                # shellcheck source={path}
                . {path}
                echo "$leaked_value"
        """)


@needs_checkers
def test_shellcheck_directives_cannot_read_a_host_file(hostile_repo: Path, tmp_path: Path, bootstrap_in) -> None:
    """With the file followed, its definitions change the findings: an oracle on any host file."""
    outside = tmp_path / "outside"
    outside.mkdir()
    host_file = outside / "defs.sh"
    (hostile_repo / "profile.yaml").write_text(sourcing_profile(str(host_file)))
    env = {"BOOTSTRAP_NO_CHECK_CACHE": "1"}
    without = bootstrap_in(hostile_repo, "check", "profile.yaml", "--json", env=env)
    host_file.write_text("leaked_value=1\n")
    present = bootstrap_in(hostile_repo, "check", "profile.yaml", "--json", env=env)
    assert json.loads(present.stdout) == json.loads(without.stdout), "check's findings depend on a host file"


@needs_checkers
def test_a_source_that_never_ends_does_not_hang_check(hostile_repo: Path, bootstrap_in) -> None:
    (hostile_repo / "profile.yaml").write_text(sourcing_profile("/dev/zero"))
    result = bootstrap_in(hostile_repo, "check", "profile.yaml", env={"BOOTSTRAP_NO_CHECK_CACHE": "1"}, timeout=120)
    assert result.returncode in (0, 1), result.stderr


@needs_checkers
def test_a_planted_shellcheckrc_above_the_scripts_changes_nothing(hostile_repo: Path, tmp_path: Path,
                                                                  bootstrap_in) -> None:  # fmt: skip
    """Another user of a shared machine plants /tmp/.shellcheckrc: shellcheck looks for one above each script."""
    shared_tmp = tmp_path / "shared-tmp"
    shared_tmp.mkdir()
    (hostile_repo / "profile.yaml").write_text("name: pr\ncommands:\n  first_boot: [{name: bad, run: 'echo $1'}]\n")
    env = {"BOOTSTRAP_NO_CHECK_CACHE": "1", "TMPDIR": str(shared_tmp)}
    clean = bootstrap_in(hostile_repo, "check", "profile.yaml", "--json", env=env)
    (shared_tmp / ".shellcheckrc").write_text("disable=all\nexternal-sources=true\n")
    planted = bootstrap_in(hostile_repo, "check", "profile.yaml", "--json", env=env)
    assert json.loads(planted.stdout) == json.loads(clean.stdout)


# -- 2. every input that names a file ----------------------------------------------------------


@pytest.fixture
def secret_outside(tmp_path: Path) -> Path:
    """A valid profile outside the repository that embeds a host file: what an attacker wants printed."""
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "secret.txt").write_text("TOPSECRET-host-file\n")
    profile = outside / "secret-profile.yaml"
    profile.write_text("name: leak\nfiles:\n  - {path: /etc/leak, source: secret.txt}\n")
    (outside / "inline.yaml").write_text("name: leak\nfiles:\n  - {path: /etc/leak, content: TOPSECRET-inline}\n")
    return profile


def test_a_committed_link_to_a_profile_outside_the_repository_is_refused(hostile_repo: Path, secret_outside: Path,
                                                                         bootstrap_in) -> None:  # fmt: skip
    (hostile_repo / "profile.yaml").symlink_to(secret_outside)
    result = bootstrap_in(hostile_repo, "render", "profile.yaml", "--target", "bash")
    assert "TOPSECRET" not in result.stdout + result.stderr
    assert result.returncode == 2 and "outside its repository" in result.stderr


def commit(repo: Path, *paths: str) -> None:
    subprocess.run(["git", "add", "--", *paths], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "pr"], cwd=repo, check=True)


def test_diff_revision_read_as_a_git_option_is_refused(hostile_repo: Path, tmp_path: Path, bootstrap_in) -> None:
    (hostile_repo / "profile.yaml").write_text(PROFILE)
    commit(hostile_repo, "profile.yaml")
    written = tmp_path / "written-by-git"
    result = bootstrap_in(hostile_repo, "diff", "--", f"--output={written}:profile.yaml", "profile.yaml")
    assert not written.exists(), "git archive took the revision as its --output option"
    assert result.returncode == 2 and "is not a revision" in result.stderr


@pytest.mark.parametrize("path", ["../../outside/secret-profile.yaml", "/OUTSIDE/secret-profile.yaml"])
def test_diff_path_outside_the_exported_tree_is_refused(hostile_repo: Path, tmp_path: Path, secret_outside: Path,
                                                        bootstrap_in, path: str) -> None:  # fmt: skip
    (hostile_repo / "profile.yaml").write_text(PROFILE)
    commit(hostile_repo, "profile.yaml")
    scratch = tmp_path / "scratch"  # the export lands in scratch/bootstrap-diff-XXXX/: ../../ is tmp_path
    scratch.mkdir()
    path = path.replace("/OUTSIDE", str(secret_outside.parent))
    result = bootstrap_in(hostile_repo, "diff", f"HEAD:{path}", "profile.yaml", env={"TMPDIR": str(scratch)})
    assert "TOPSECRET" not in result.stdout + result.stderr
    assert result.returncode == 2 and "must be a path inside the repository" in result.stderr
    assert not list(scratch.glob("bootstrap-diff-*")), "diff left its temporary folder"


def test_diff_of_a_revision_holding_a_link_out_reads_nothing_outside(hostile_repo: Path, tmp_path: Path,
                                                                     secret_outside: Path, bootstrap_in) -> None:
    (hostile_repo / "profile.yaml").write_text(PROFILE)
    (hostile_repo / "evil.yaml").symlink_to(secret_outside.parent / "inline.yaml")
    (hostile_repo / "embed.txt").symlink_to(secret_outside.parent / "secret.txt")
    (hostile_repo / "embeds.yaml").write_text("name: embeds\nfiles:\n  - {path: /etc/x, source: embed.txt}\n")
    commit(hostile_repo, "profile.yaml", "evil.yaml", "embed.txt", "embeds.yaml")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    for reference in ("HEAD:evil.yaml", "HEAD:embeds.yaml"):
        result = bootstrap_in(hostile_repo, "diff", reference, "profile.yaml", env={"TMPDIR": str(scratch)})
        assert "TOPSECRET" not in result.stdout + result.stderr, reference
        assert result.returncode == 2, result.stdout + result.stderr
    assert not list(scratch.glob("bootstrap-diff-*")), "diff left its temporary folder"


def plant_manifest(images: Path, name: str, victim: Path) -> None:
    """An image manifest as bootstrap writes them, but whose name walks out of the images folder."""
    manifest = {"format": "bootstrap-local-image", "name": name, "created": 0, "promoted": 1,
                "disk": f"{name}.qcow2", "kernel": f"{name}.vmlinuz", "initrd": f"{name}.initrd.img",
                "tags": {"bootstrap:owner": "bootstrap", "bootstrap:profile": "p", "bootstrap:role": "image"}}
    (images / "evil.json").write_text(json.dumps(manifest))
    victim.write_text("the operator's own file")


def test_a_planted_manifest_name_makes_nothing_outside_the_images_folder_deletable(tmp_path: Path,
                                                                                  bootstrap_in) -> None:  # fmt: skip
    from bootstrap.bake.events import Quiet
    from bootstrap.bake.lifecycle import prune
    from bootstrap.clouds.local.backend import LocalBackend

    images, victim = tmp_path / "images", tmp_path / "victim.qcow2"
    images.mkdir()
    plant_manifest(images, "../victim", victim)
    backend = LocalBackend(images)
    assert backend.list_images("p") == []
    assert prune(backend, "p", keep=0, protected=set(), events=Quiet()) == []
    result = bootstrap_in(tmp_path, "images", "delete", "p", "--image", "../victim", "-o", str(images))
    assert victim.exists(), "bootstrap deleted a file outside its images folder"
    assert result.returncode != 0 and "no image ../victim" in result.stderr


@pytest.mark.parametrize("field", [{"created": "soon"}, {"created": float("inf")}, {"created": None},
                                   {"tags": ["bootstrap:owner"]}, {"tags": {"bootstrap:owner": "bootstrap",
                                    "bootstrap:profile": "p", "bootstrap:channel:latest": {"a": 1}}}])  # fmt: skip
def test_a_planted_manifest_of_odd_values_is_nobodys(tmp_path: Path, bootstrap_in, field: dict) -> None:
    """A manifest in the images folder (a checkout's images/, the default -o) with bootstrap's tags but a
    value bootstrap never writes (a time not a number, tags not strings): `images list` and prune pass it
    by, as they do a manifest not named as its file, never a traceback (`images list` raised TypeError)."""
    from bootstrap.bake.events import Quiet
    from bootstrap.bake.lifecycle import prune
    from bootstrap.clouds.local.backend import LocalBackend

    images = tmp_path / "images"
    images.mkdir()
    manifest = {"format": "bootstrap-local-image", "name": "planted", "created": 0, "promoted": 1,
                "tags": {"bootstrap:owner": "bootstrap", "bootstrap:profile": "p", "bootstrap:role": "image"},
                **field}  # fmt: skip
    (images / "planted.json").write_text(json.dumps(manifest))
    (images / "planted.qcow2").write_text("")
    backend = LocalBackend(images)
    assert backend.list_images("p") == []
    assert prune(backend, "p", keep=0, protected=set(), events=Quiet()) == []
    (tmp_path / "p.yaml").write_text("name: p\n")  # a profile this folder knows: no images is no error
    result = bootstrap_in(tmp_path, "images", "list", "p", "-o", str(images))
    assert result.returncode == 0 and "p: no images made by bootstrap yet" in result.stdout


def test_a_folder_scan_follows_no_link_out_of_the_folder(hostile_repo: Path, secret_outside: Path) -> None:
    from bootstrap.discover import profile_files

    (hostile_repo / "profiles").mkdir()
    (hostile_repo / "profiles" / "ok.yaml").write_text(PROFILE)
    (hostile_repo / "profiles" / "linked.yaml").symlink_to(secret_outside)
    (hostile_repo / "profiles" / "tree").symlink_to(secret_outside.parent, target_is_directory=True)
    found, others = profile_files(hostile_repo / "profiles", "**/*.y*ml")
    also, _ = profile_files(hostile_repo / "profiles", "*/*.yaml")
    assert [p.name for p in found] == ["ok.yaml"] and also == []
    assert others == []


# -- 6. what we read and show ------------------------------------------------------------------


def test_a_latin1_conda_file_is_a_located_error(hostile_repo: Path, bootstrap_in) -> None:
    (hostile_repo / "environment.yml").write_bytes("name: ds\ndependencies:\n  - caf\xe9\n".encode("latin-1"))
    (hostile_repo / "profile.yaml").write_text(
        "name: pr\nconda:\n  environments:\n    - {name: ds, file: environment.yml}\n")
    for command in (["validate", "profile.yaml"], ["render", "profile.yaml", "--target", "bash"]):
        result = bootstrap_in(hostile_repo, *command)
        assert result.returncode == 2, result.stderr
        assert "environment.yml:3:" in result.stderr and "not valid UTF-8" in result.stderr


@pytest.mark.parametrize("char", ["\u202e", "\u2067", "\u200b", "\u00ad", "\U000e0041", "\u0600", "\u061c",
                                  "\u2028", "\ufeff", "\U000f0000", "\u3164", "\ufe0f", "\u034f",
                                  "\u2800"])  # fmt: skip
def test_every_format_and_bidi_character_is_shown_escaped(hostile_repo: Path, bootstrap_in, char: str) -> None:
    """A reviewer reading `explain` must see what the machine will run, not a reordered or hidden text."""
    (hostile_repo / "profile.yaml").write_text(
        f"name: pr\ncommands:\n  first_boot: [{{name: s, run: 'echo safe{char} # rm -rf /'}}]\n",
        encoding="utf-8")  # fmt: skip
    result = bootstrap_in(hostile_repo, "explain", "profile.yaml")
    shown = result.stdout + result.stderr
    assert char not in shown


# -- found by the attacker's pass of this stop ------------------------------------------------


def test_a_diff_revision_runs_no_filter_its_gitattributes_name(hostile_repo: Path, tmp_path: Path,
                                                               bootstrap_in) -> None:  # fmt: skip
    """git archive applied the tree's .gitattributes: a `filter=` driver configured on the host (git-lfs
    is, on most machines) ran on the attacker's bytes. The tree is read as raw objects now."""
    canary = tmp_path / "filtered"
    (hostile_repo / ".gitattributes").write_text("* filter=x\n")
    (hostile_repo / "profile.yaml").write_text(PROFILE)
    commit(hostile_repo, ".gitattributes", "profile.yaml")
    subprocess.run(["git", "config", "filter.x.smudge", f"touch {canary}; cat"], cwd=hostile_repo, check=True)
    result = bootstrap_in(hostile_repo, "diff", "HEAD:profile.yaml", "profile.yaml")
    assert not canary.exists(), "a filter driver ran on the exported tree"
    assert result.returncode == 0, result.stderr  # the same profile: no difference


def test_a_profile_named_through_a_folder_link_reads_nothing_outside(hostile_repo: Path, secret_outside: Path,
                                                                    bootstrap_in) -> None:  # fmt: skip
    (hostile_repo / "link").symlink_to(secret_outside.parent, target_is_directory=True)
    result = bootstrap_in(hostile_repo, "render", "link/secret-profile.yaml", "--target", "bash")
    assert "TOPSECRET" not in result.stdout + result.stderr
    assert result.returncode == 2 and "outside its repository" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="planting another user's .git needs root")
def test_a_git_folder_someone_else_planted_makes_no_repository(tmp_path: Path, bootstrap_in) -> None:
    """Another user creates /tmp/.git: a profile outside git under /tmp would read every file below it."""
    shared = tmp_path / "shared-tmp"
    (shared / "victim").mkdir(parents=True)
    (shared / "victim" / "creds.txt").write_text("TOPSECRET-other-job\n")
    (shared / ".git").write_text("")
    os.chown(shared / ".git", 65534, 65534)
    (shared / "pr").mkdir()
    (shared / "pr" / "p.yaml").write_text("name: p\nfiles:\n  - {path: /etc/x, source: ../victim/creds.txt}\n")
    result = bootstrap_in(shared / "pr", "render", "p.yaml", "--target", "bash")
    assert "TOPSECRET" not in result.stdout and result.returncode == 2, result.stderr


def test_a_planted_channel_link_is_read_as_a_name_never_followed(tmp_path: Path) -> None:
    """A checkout's images/ holds p-stable.json linking outside (or to a pipe, /dev/zero): moving p's
    channel reads the link as a name, finds no image of this folder's by it, and replaces it; it never
    opens what the link names (a pipe would hang the bake, a file outside would be read)."""
    from bootstrap.bake.backend import OWNER, TAG_OWNER, TAG_PROFILE
    from bootstrap.clouds.local.backend import LocalBackend

    output = tmp_path / "images"
    output.mkdir()
    (output / "img-p.qcow2").write_bytes(b"")
    (output / "img-p.json").write_text(json.dumps({"format": "bootstrap-local-image", "name": "img-p", "created": 1,
                                                   "tags": {TAG_PROFILE: "p", TAG_OWNER: OWNER}}))  # fmt: skip
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"tags": {TAG_PROFILE: "someone-else"}}))
    os.mkfifo(tmp_path / "pipe.json")
    backend = LocalBackend(output, progress=lambda line: None)
    [mine] = backend.list_images("p")
    for planted in (outside, tmp_path / "pipe.json"):
        for suffix in ("json", "qcow2"):
            (output / f"p-stable.{suffix}").unlink(missing_ok=True)
            (output / f"p-stable.{suffix}").symlink_to(planted)
        backend.point_channel(mine, "p", "stable")
        assert os.readlink(output / "p-stable.json") == "img-p.json"
