"""A change to a parent profile lands in its children (issue 22.6): the hooks pass only the changed
file, yet validate and check also take every profile that extends it, say which and why, and fail
when the change breaks a child that the parent alone does not show."""

from __future__ import annotations

import shutil
from pathlib import Path

from .conftest import Run

REPO = Path(__file__).resolve().parents[2]
ENVIRONMENTS = "conda:\n  environments:\n    - name: ds\n      spec: {dependencies: [python=3.11, jupyterlab]}\n"


def team(repo: Path) -> Path:
    shutil.copytree(REPO / "examples" / "team-ml", repo, dirs_exist_ok=True)
    parent = repo / "profiles" / "ml-team.yaml"
    parent.write_text(parent.read_text() + ENVIRONMENTS)
    analyst = repo / "profiles" / "analyst.yaml"
    analyst.write_text(analyst.read_text() + "services:\n  jupyter:\n    user: alice\n    conda_env: ds\n")
    return parent


def test_a_parent_that_breaks_a_child_fails_validate_and_check(repo: Path, bootstrap: Run) -> None:
    parent = team(repo)
    fine = bootstrap("validate", "profiles/ml-team.yaml")
    assert "also checking profiles/analyst.yaml: it extends profiles/ml-team.yaml" in fine.stderr
    assert "ok: profiles/analyst.yaml" in fine.stdout and "ok: profiles/gpu-trainer.yaml" in fine.stdout
    parent.write_text(parent.read_text().replace("name: ds", "name: data-science"))  # the child still says ds
    broken = bootstrap("validate", "profiles/ml-team.yaml", expect=2)
    assert "ok: profiles/ml-team.yaml" in broken.stdout  # the parent alone is fine...
    assert "analyst.yaml" in broken.stderr and "'ds'" in broken.stderr  # ...its child is not, at its line
    checked = bootstrap("check", "profiles/ml-team.yaml", expect=2)
    assert "also checking profiles/analyst.yaml" in checked.stderr


def test_a_profile_nobody_extends_is_checked_alone(repo: Path, bootstrap: Run) -> None:
    team(repo)
    alone = bootstrap("validate", "profiles/analyst.yaml")
    assert "also checking" not in alone.stderr
