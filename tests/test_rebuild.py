"""`bootstrap rebuild` on a real team repository: which files are profiles, parents never baked,
every line says whose it is."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bootstrap.bake.events import Events
from bootstrap.cli import main
from bootstrap.discover import profile_files


def team_repository(root: Path) -> Path:
    folder = root / "profiles"
    (folder / "envs").mkdir(parents=True)
    (folder / "ml-team.yaml").write_text("name: ml-team\nabstract: true\ntimezone: UTC\n")
    (folder / "analyst.yaml").write_text("name: analyst\nextends: [ml-team]\npackages: [jq]\n")
    (folder / "trainer.yml").write_text("name: trainer\nextends: [ml-team]\n")
    (folder / "environment.yml").write_text("name: ds\nchannels: [conda-forge]\ndependencies: [numpy]\n")
    (folder / "envs" / "ds.yml").write_text("name: ds2\ndependencies: [pandas]\n")
    (folder / "ci.yaml").write_text("on: [push]\njobs: {}\n")
    return folder


def test_only_profiles_are_taken_and_the_others_are_named_with_the_reason(tmp_path: Path) -> None:
    found, others = profile_files(team_repository(tmp_path))
    assert [p.name for p in found] == ["analyst.yaml", "ml-team.yaml", "trainer.yml"]
    reasons = {p.name: why for p, why in others}
    assert reasons["environment.yml"].startswith("a conda environment file (channels, dependencies)")
    assert reasons["ds.yml"].startswith("a conda environment file") and "no top-level name" in reasons["ci.yaml"]
    found, _ = profile_files(tmp_path / "profiles", "t*.yml")  # an explicit glob narrows it
    assert [p.name for p in found] == ["trainer.yml"]


def test_a_broken_profile_is_still_a_profile_so_it_fails_loudly(tmp_path: Path) -> None:
    folder = team_repository(tmp_path)
    (folder / "broken.yaml").write_text("name: broken\npackages: [jq\n")
    (folder / "typo.yaml").write_text("name: typo\npackges: [jq]\n")
    found, _ = profile_files(folder)
    assert {"broken.yaml", "typo.yaml"} <= {p.name for p in found}


def test_a_dry_rebuild_skips_parents_and_prefixes_every_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    folder = team_repository(tmp_path)
    assert main(["rebuild", str(folder), "--dry-run", "--json"]) == 0
    out = capsys.readouterr()
    results = {Path(r["profile"]).name: r for r in json.loads(out.out)["results"]}
    assert set(results) == {"analyst.yaml", "ml-team.yaml", "trainer.yml"}
    assert results["ml-team.yaml"]["status"] == "skipped" and results["ml-team.yaml"]["error"] == "abstract"
    assert results["analyst.yaml"]["status"] == "planned"
    events = [json.loads(line) for line in out.err.splitlines()]
    for event in events:
        if event["event"] == "progress" and "profile" not in event:
            continue  # the local guest's choice: one for the whole run, said once, as the real run says it
        if event["event"] != "not-a-profile":
            assert event["message"].startswith(f"{event['profile']}: "), event
    assert {e["profile"] for e in events if e["event"] == "plan"} == {"analyst", "trainer"}
    assert not (tmp_path / "images.json").exists()  # a dry run writes no manifest


def test_bake_refuses_an_abstract_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = team_repository(tmp_path)
    assert main(["bake", str(folder / "ml-team.yaml"), "--dry-run"]) == 2
    assert "ml-team is abstract" in capsys.readouterr().err
    assert main(["validate", str(folder / "ml-team.yaml")]) == 0  # it is still a valid profile


def test_progress_lines_of_parallel_bakes_say_whose_they_are() -> None:
    stream = io.StringIO()
    events = Events(stream=stream)
    events.for_profile("analyst").emit("progress", "step packages ok")
    events.for_profile("trainer").emit("progress", "trainer: already prefixed")
    assert stream.getvalue() == "bake: analyst: step packages ok\nbake: trainer: already prefixed\n"
    assert [e["profile"] for e in events.history] == ["analyst", "trainer"]
