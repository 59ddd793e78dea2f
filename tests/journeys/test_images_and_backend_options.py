"""`bootstrap images list` and the backends' options as a user meets them: a misspelt profile name is
bad input with the closest name (not an empty listing, exit 0), a known profile without images says
so and exits 0, and each command's help says which options belong to which backend."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .conftest import Run

ANALYST = "name: analyst\npackages: [jq]\n"


@pytest.fixture
def team(repo: Path) -> Path:
    (repo / "profiles").mkdir()
    (repo / "profiles" / "analyst.yaml").write_text(ANALYST)
    (repo / "trainer.yaml").write_text("name: trainer\npackages: [htop]\n")
    return repo


def test_a_misspelt_profile_name_is_bad_input_with_the_closest_name(team: Path, bootstrap: Run) -> None:
    refused = bootstrap("images", "list", "analist", expect=2)
    assert "no profile named 'analist'" in refused.stderr and "did you mean analyst?" in refused.stderr, refused.stderr
    assert refused.stdout == ""
    bootstrap("images", "list", "analist", "--json", expect=2)
    unknown = bootstrap("images", "list", "nothing-like-it", expect=2)
    assert "bootstrap list" in unknown.stderr  # where known names come from


@pytest.mark.parametrize("action", [["promote", "--channel", "stable"], ["rollback", "--channel", "stable"],
                                    ["share", "--share", "123456789012"]])  # fmt: skip
def test_an_images_action_by_profile_refuses_a_misspelt_name(team: Path, bootstrap: Run, action: list[str]) -> None:
    """Not a backend failure (exit 3, "points at no image"): the name is wrong, and the closest is said.
    An action that names its image by id (--image) is told that image is missing instead."""
    refused = bootstrap("images", action[0], "analist", *action[1:], expect=2)
    assert "no profile named 'analist'" in refused.stderr and "did you mean analyst?" in refused.stderr, refused.stderr
    missing = bootstrap("images", "delete", "analist", "--image", "bootstrap-analyst-1", expect=3)
    assert "no image bootstrap-analyst-1 of analist" in missing.stderr, missing.stderr


@pytest.mark.parametrize("name", ["analyst", "trainer", "profiles/analyst.yaml", "gpu-pytorch", "recorded"])
def test_a_known_profile_without_images_says_so(team: Path, bootstrap: Run, name: str) -> None:
    """Under profiles/, here, a profile's file, a built-in profile, a name images.json records."""
    (team / "images.json").write_text(json.dumps({"profiles": {"recorded": {}}}))
    listed = bootstrap("images", "list", name)
    shown = Path(name).stem
    assert f"{shown}: no images made by bootstrap yet (local, " in listed.stdout, listed.stdout
    assert json.loads(bootstrap("images", "list", name, "--json").stdout)["images"] == []


def _groups(help_text: str) -> dict[str, str]:
    """Each option group's title and the options listed under it."""
    parts = re.split(r"^(\S[^\n]*):\n", help_text, flags=re.M)
    return {title: body for title, body in zip(parts[1::2], parts[2::2], strict=True)}


def _options(body: str) -> set[str]:
    return set(re.findall(r"^  (?:-\w \S+, )?(--[a-z-]+)", body, flags=re.M))


def test_reap_help_lists_each_backend_s_own_options_under_it(team: Path, bootstrap: Run) -> None:
    groups = _groups(bootstrap("reap", "--help").stdout)
    assert _options(groups["local backend (-b local)"]) == {"--output"}
    assert _options(groups["ec2 backend (-b ec2)"]) == {"--region"}
    assert _options(groups["gce backend (-b gce)"]) == {"--project", "--zone"}
    assert _options(groups["ec2 and gce backends"]) == {"--endpoint-url"}
    listed = set().union(*(_options(body) for body in groups.values()))
    assert not listed & {"--source", "--instance-type", "--subnet", "--security-group", "--instance-profile",
                         "--family", "--machine-image", "--gce-user-data"}  # fmt: skip
    # one set of cloud arguments serves bake and reap alike: bake's own are taken, and unused
    bootstrap("reap", "--dry-run", "--source", "ami-12345678", "--instance-type", "t3.large")


def test_bake_help_lists_each_backend_s_own_options_under_it(team: Path, bootstrap: Run) -> None:
    groups = _groups(bootstrap("bake", "--help").stdout)
    assert {"--output", "--target"} <= _options(groups["local backend (-b local)"])
    assert _options(groups["ec2 backend (-b ec2)"]) == {"--region", "--security-group", "--instance-profile",
                                                        "--copy-to"}  # fmt: skip
    assert _options(groups["gce backend (-b gce)"]) == {"--project", "--zone", "--family", "--machine-image",
                                                        "--gce-user-data"}  # fmt: skip
    assert _options(groups["ec2 and gce backends"]) == {"--source", "--instance-type", "--subnet", "--endpoint-url"}


@pytest.mark.parametrize("command", [["bake"], ["rebuild"], ["reap"], ["images", "list"]])
def test_a_named_backend_s_help_lists_its_options_alone(team: Path, bootstrap: Run, command: list[str]) -> None:
    """Each cloud declares its own options: after -b gce, no EC2 option shows (nor in the usage line)."""
    shown = bootstrap(*command, "-b", "gce", "--help").stdout
    assert "--zone" in shown and "--project" in shown
    assert not {"--region", "--security-group", "--instance-profile", "--copy-to", "--output"} & set(
        re.findall(r"--[a-z-]+", shown.split("bake's options for the machine")[0]))  # fmt: skip
    assert "AWS_ENDPOINT_URL" not in shown and "subnet id" not in shown  # a shared option: what it means for gce
