"""Journey: a team starts its repository with `bootstrap init`, puts it in git, and its first profile
validates and checks as the pre-commit hooks and the pull-request workflow will run them; a second
init, later, changes nothing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .conftest import Run, git


def test_init_then_git_then_validate(tmp_path: Path, bootstrap: Run) -> None:
    started = bootstrap("init", "team", cwd=tmp_path)
    assert "wrote team/profiles/team.yaml" in started.stdout and "next:" in started.stdout
    team = tmp_path / "team"
    for command in (["init", "-q", "-b", "main"], ["config", "user.email", "dev@example.com"],
                    ["config", "user.name", "Dev"], ["config", "commit.gpgsign", "false"]):  # fmt: skip
        subprocess.run(["git", *command], cwd=team, check=True)
    git(team, "add", "-A")
    git(team, "commit", "-q", "-m", "bootstrap init")
    tracked = git(team, "ls-files").stdout.split()
    assert {"profiles/team.yaml", "profile.schema.json", ".pre-commit-config.yaml", "README.md",
            ".github/workflows/check-profiles.yml", ".github/workflows/rebuild-images.yml"} <= set(tracked)  # fmt: skip

    assert "ok: profiles/team.yaml" in bootstrap("validate", "profiles/team.yaml", cwd=team).stdout
    if shutil.which("shellcheck") and shutil.which("cloud-init"):
        assert "ok: 0 errors, 0 warnings" in bootstrap("check", "profiles/team.yaml", cwd=team).stdout
    assert "#!" in bootstrap("render", "profiles/team.yaml", "--target", "bash", cwd=team).stdout

    again = bootstrap("init", cwd=team, expect=2)
    assert "would overwrite" in again.stderr and "nothing written" in again.stderr
    assert git(team, "status", "--porcelain").stdout == ""
