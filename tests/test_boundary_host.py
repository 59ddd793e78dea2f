"""The rendering host's boundary: a profile reads files inside its own repository and nothing else.

Each case plants a canary outside the repository (or uses the host's own files) and checks that
`render` refuses with exit 2, a located message, and output that holds none of the canary.
"""

from __future__ import annotations

import gzip
import os
import string
import subprocess
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bootstrap.cli import main
from bootstrap.errors import ProfileError
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile
from bootstrap.targets import TARGETS, render

CANARY = "CANARY-5f1c0e-outside-the-repository"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with a profile folder, and a canary file beside (outside) it."""
    (tmp_path / "outside.txt").write_text(CANARY + "\n")
    root = tmp_path / "repo"
    (root / "profiles" / "files").mkdir(parents=True)
    (root / "profiles" / "files" / "motd").write_text("hello\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def write(root: Path, text: str, name: str = "profiles/p.yaml") -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def source_profile(root: Path, source: str) -> Path:
    return write(root, f"name: p\nfiles:\n  - {{path: /etc/x, source: {source!r}}}\n")


def refused(capsys: pytest.CaptureFixture[str], profile: Path, *, needle: str = "outside the profile's repository"):
    code = main(["render", str(profile), "--target", "bash"])
    captured = capsys.readouterr()
    assert code == 2, captured
    assert needle in captured.err
    assert CANARY not in captured.out + captured.err
    assert "Traceback" not in captured.err
    return captured.err


def test_a_file_inside_the_repository_is_embedded(repo: Path, capsys) -> None:
    profile = source_profile(repo, "files/motd")
    assert main(["render", str(profile), "--target", "bash"]) == 0
    assert "hello" in capsys.readouterr().out


def test_files_elsewhere_in_the_same_git_repository_are_allowed(repo: Path, capsys) -> None:
    (repo / "shared").mkdir()
    (repo / "shared" / "pip.conf").write_text("[global]\n")
    profile = source_profile(repo, "../shared/pip.conf")
    assert main(["render", str(profile), "--target", "bash"]) == 0
    assert "[global]" in capsys.readouterr().out


@pytest.mark.parametrize("source", ["../../outside.txt", "/etc/passwd", "/proc/self/environ", "/proc/1/cmdline"])
def test_paths_that_leave_the_repository_are_refused(repo: Path, capsys, source: str) -> None:
    err = refused(capsys, source_profile(repo, source))
    assert "profiles/p.yaml:3:" in err  # located at the source value
    assert "root:x:0" not in err


def test_a_link_out_of_the_repository_is_refused(repo: Path, capsys) -> None:
    (repo / "profiles" / "files" / "innocent").symlink_to(repo.parent / "outside.txt")
    err = refused(capsys, source_profile(repo, "files/innocent"))
    assert "a link to" in err


def test_a_link_inside_the_repository_is_followed(repo: Path, capsys) -> None:
    (repo / "profiles" / "files" / "alias").symlink_to("motd")
    assert main(["render", str(source_profile(repo, "files/alias")), "--target", "bash"]) == 0
    assert "hello" in capsys.readouterr().out


def test_a_fifo_is_not_a_regular_file_and_does_not_hang(repo: Path, capsys) -> None:
    os.mkfifo(repo / "profiles" / "files" / "pipe")
    refused(capsys, source_profile(repo, "files/pipe"), needle="is not a regular file")


def test_conda_file_and_lock_outside_are_refused(repo: Path, capsys) -> None:
    for key in ("file", "lock"):
        profile = write(repo, f"name: p\nconda:\n  environments:\n    - {{name: ds, {key}: ../../outside.txt}}\n")
        err = refused(capsys, profile)
        assert f"conda {key}" in err


def test_extends_outside_the_repository_is_refused(repo: Path, capsys) -> None:
    (repo.parent / "evil.yaml").write_text(f"name: evil\nenv: {{X: {CANARY}}}\n")
    for reference in ("../../evil.yaml", str(repo.parent / "evil.yaml")):
        profile = write(repo, f"name: p\nextends: [{reference!r}]\n")
        err = refused(capsys, profile)
        assert "profiles/p.yaml:2:" in err


def test_extends_through_a_link_out_is_refused(repo: Path, capsys) -> None:
    (repo.parent / "evil.yaml").write_text(f"name: evil\nenv: {{X: {CANARY}}}\n")
    (repo / "profiles" / "parent.yaml").symlink_to(repo.parent / "evil.yaml")
    refused(capsys, write(repo, "name: p\nextends: [parent]\n"))


def test_built_in_profiles_stay_usable_by_name(repo: Path, capsys) -> None:
    profile = write(repo, "name: p\nextends: [base]\n")
    assert main(["render", str(profile), "--target", "bash"]) == 0
    capsys.readouterr()


def test_a_profile_outside_git_may_read_its_own_folder_only(tmp_path: Path, capsys) -> None:
    (tmp_path / "outside.txt").write_text(CANARY)
    folder = tmp_path / "team"
    folder.mkdir()
    (folder / "ok.txt").write_text("fine\n")
    profile = folder / "p.yaml"
    profile.write_text("name: p\nfiles:\n  - {path: /etc/x, source: ok.txt}\n")
    assert main(["render", str(profile), "--target", "bash"]) == 0
    assert "fine" in capsys.readouterr().out
    profile.write_text("name: p\nfiles:\n  - {path: /etc/x, source: ../outside.txt}\n")
    refused(capsys, profile)


def test_a_set_override_cannot_reach_outside_either(repo: Path, capsys) -> None:
    profile = write(repo, "name: p\nfiles:\n  - {path: /etc/x, source: files/motd}\n")
    code = main(["render", str(profile), "--target", "bash", "--set", f"files.0.source={repo.parent / 'outside.txt'}"])
    captured = capsys.readouterr()
    assert code == 2 and CANARY not in captured.out + captured.err


# -- the property: whatever path a profile names, nothing from outside reaches any output ----------

HOSTILE_PARTS = ["..", ".", "files", "motd", "outside.txt", "link-out", "link-in", "/etc", "/proc/self", "environ",
                 "passwd", "", "repo", "//"]  # fmt: skip


@st.composite
def hostile_paths(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.sampled_from(HOSTILE_PARTS), min_size=1, max_size=6))
    path = "/".join(parts)
    if draw(st.booleans()):
        path = "/" + path.lstrip("/")
    return path or "."


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=hostile_paths(), conda=st.booleans(), name=st.text(string.printable, max_size=12))
def test_property_no_output_carries_bytes_from_outside(repo: Path, source: str, conda: bool, name: str) -> None:
    files = repo / "profiles" / "files"
    if not (files / "link-out").is_symlink():
        (files / "link-out").symlink_to(repo.parent / "outside.txt")
        (files / "link-in").symlink_to("motd")
    if conda:
        body = f"conda:\n  environments:\n    - {{name: ds, file: {source!r}}}\n"
    else:
        body = f"files:\n  - {{path: /etc/x, source: {source!r}}}\n"
    profile = write(repo, f"name: p\ndescription: {name!r}\n{body}")
    try:
        plan = build_plan(load_profile(str(profile)))
    except ProfileError as exc:
        assert CANARY not in str(exc)
        return
    for target in TARGETS:
        artifact = render(plan, target)
        data = gzip.decompress(artifact.data) if artifact.gzipped else artifact.data
        assert CANARY.encode() not in data
        assert b"root:x:0:0" not in data


def test_outside_git_a_sibling_folders_parent_is_refused_with_how_to_make_one_repository(tmp_path: Path,
                                                                                        capsys) -> None:  # fmt: skip
    """A newcomer's two folders, no git: the hint said 'inside the same repository' of a folder that is
    in none; `git init` above both is what makes the extends work."""
    write(tmp_path, "name: base2\npackages: [htop]\n", "b/p.yaml")
    child = write(tmp_path, "name: c\nextends: [../b/p.yaml]\n", "a/c.yaml")
    err = refused(capsys, child)
    assert "is in no git repository, so the profile's own folder is its repository: `git init`" in err
