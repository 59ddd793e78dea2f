"""The journeys tier: the installed `bootstrap` command, run as a user types it, in a fresh git
repository, through each user's whole journey. Exit codes and messages are asserted as a user reads
them; no step may print a traceback. Each carries the ``journey`` marker (tests/tiers.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

BESIDE_PYTHON = Path(sys.executable).parent / "bootstrap"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fresh git repository, as a team's would be."""
    folder = tmp_path / "repo"
    folder.mkdir()
    for command in (["init", "-q", "-b", "main"], ["config", "user.email", "dev@example.com"],
                    ["config", "user.name", "Dev"], ["config", "commit.gpgsign", "false"]):  # fmt: skip
        subprocess.run(["git", *command], cwd=folder, check=True)
    return folder


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def bootstrap(repo: Path, tmp_path: Path) -> Run:
    """``bootstrap(*args, expect=0, env={})``: the installed command, run in the repository."""
    command = str(BESIDE_PYTHON) if BESIDE_PYTHON.exists() else shutil.which("bootstrap")
    if command is None:
        pytest.skip("the bootstrap command is not installed (pip install .)")
    base_env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "NO_COLOR": "1", "COLUMNS": "120"}

    def run(*args: str, expect: int | None = 0, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
        result = subprocess.run([command, *args], cwd=cwd or repo, env={**base_env, **(env or {})},
                                capture_output=True, text=True, timeout=600)  # fmt: skip
        shown = f"$ bootstrap {' '.join(args)}\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr + result.stdout, shown
        if expect is not None:
            assert result.returncode == expect, shown
        return result

    return run


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=check)
