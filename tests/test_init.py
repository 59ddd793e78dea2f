"""`bootstrap init [DIR]`: a team's repository whose starter profile validates and checks, whose hooks
and workflows are the example team's (examples/team-ml) pinned to this version, and which is never
written over."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from bootstrap import __version__
from bootstrap.cli import main
from bootstrap.cli.init import FILES
from bootstrap.schema import schema_json

REPO = Path(__file__).resolve().parent.parent


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_init_writes_a_team_repository_into_a_new_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "team" / "profiles-repo"  # neither exists yet
    assert main(["init", str(folder)]) == 0
    out = capsys.readouterr().out
    assert set(_tree(folder)) == set(FILES)
    assert all(f"wrote {folder / name}" in out for name in FILES) and "bootstrap validate profiles/*.yaml" in out

    starter = (folder / "profiles" / "team.yaml").read_text()
    modeline = starter.splitlines()[0]
    assert modeline.startswith("# yaml-language-server: $schema=")
    schema = (folder / "profiles" / modeline.split("$schema=", 1)[1]).resolve()
    assert schema == (folder / "profile.schema.json").resolve() and schema.read_text() == schema_json()
    assert yaml.safe_load(starter)["extends"] == ["base"]
    assert json.loads(schema.read_text())["$schema"].startswith("https://json-schema.org")

    assert main(["validate", str(folder / "profiles" / "team.yaml")]) == 0


def test_the_hooks_and_workflows_are_the_example_teams_pinned_to_this_version(tmp_path: Path) -> None:
    assert main(["init", str(tmp_path)]) == 0
    config = yaml.safe_load((tmp_path / ".pre-commit-config.yaml").read_text())
    offered = {hook["id"] for hook in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    (pinned,) = config["repos"]
    assert pinned["rev"] == f"v{__version__}" and {h["id"] for h in pinned["hooks"]} == offered
    for name in (".pre-commit-config.yaml", ".github/workflows/check-profiles.yml",
                 ".github/workflows/rebuild-images.yml"):  # fmt: skip
        assert (tmp_path / name).read_text() == (REPO / "examples" / "team-ml" / name).read_text(), name
    pull_requests = yaml.safe_load((tmp_path / ".github/workflows/check-profiles.yml").read_text())
    runs = [step.get("run", "") for step in pull_requests["jobs"]["check"]["steps"]]
    assert "pull_request" in pull_requests[True]  # YAML 1.1 reads the key `on` as true
    assert "bootstrap validate profiles/*.yaml" in runs and "bootstrap check profiles/*.yaml" in runs
    nightly = yaml.safe_load((tmp_path / ".github/workflows/rebuild-images.yml").read_text())
    assert nightly[True]["schedule"][0]["cron"]


def test_the_starter_profile_passes_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not (shutil.which("shellcheck") and shutil.which("cloud-init")):
        pytest.skip("check needs shellcheck and cloud-init")
    assert main(["init", str(tmp_path)]) == 0
    assert main(["check", str(tmp_path / "profiles" / "team.yaml")]) == 0, capsys.readouterr()
    assert "ok: 0 errors, 0 warnings" in capsys.readouterr().out


def test_a_second_init_refuses_and_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path)]) == 0
    (tmp_path / "profiles" / "team.yaml").write_text("name: ours\n")  # the team's own edit
    before = _tree(tmp_path)
    capsys.readouterr()
    assert main(["init", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "would overwrite" in err and all(name in err for name in FILES) and "nothing written" in err
    assert _tree(tmp_path) == before


def test_one_existing_file_stops_every_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "README.md").write_text("# ours\n")
    (tmp_path / ".github").symlink_to(tmp_path / "elsewhere")  # a link where a folder goes: never followed
    assert main(["init", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "README.md" in err and ".github/workflows/check-profiles.yml" in err and "profiles/team.yaml" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [".github", "README.md"]
    assert not (tmp_path / "elsewhere").exists()


def test_init_into_a_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "f").write_text("")
    assert main(["init", str(tmp_path / "f")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_the_repository_ignores_what_bootstrap_writes_beside_it(tmp_path) -> None:
    """Boot reports (consoles may show a step's output) and local images never reach a commit."""
    from bootstrap.cli import main

    assert main(["init", str(tmp_path / "repo")]) == 0
    ignored = (tmp_path / "repo" / ".gitignore").read_text().splitlines()
    assert ".bootstrap/" in ignored and "images/" in ignored
