"""The adversarial tier: each test is an attack on one boundary of SECURITY.md, asserting it fails.

Every test in this folder carries the ``adversarial`` marker (tests/tiers.py; ``-m adversarial`` runs the
tier alone). Machine-side attacks run in the sandbox as a non-root user or a group member.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
# The command as an attacker's CI job would start it: bootstrap from this checkout of bootstrap,
# in an isolated Python, so that only what bootstrap itself starts can pick code from the attacker's.
LAUNCHER = f"import sys; sys.path.insert(0, {str(REPO)!r}); from bootstrap.cli import main; sys.exit(main())"


@pytest.fixture
def hostile_repo(tmp_path: Path) -> Path:
    """A fresh git repository: a pull request's checkout, written by the attacker."""
    import subprocess

    folder = tmp_path / "checkout"
    folder.mkdir()
    for command in (["init", "-q", "-b", "main"], ["config", "user.email", "eve@example.com"],
                    ["config", "user.name", "Eve"], ["config", "commit.gpgsign", "false"]):  # fmt: skip
        subprocess.run(["git", *command], cwd=folder, check=True)
    return folder


@pytest.fixture
def bootstrap_in(tmp_path: Path):  # type: ignore[no-untyped-def]
    """``bootstrap_in(cwd, *args, env={})``: the command run in ``cwd``; never a traceback."""
    import os
    import subprocess
    import sys

    def run(cwd: Path, *args: str, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:  # fmt: skip
        environment = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "NO_COLOR": "1", **(env or {})}
        result = subprocess.run([sys.executable, "-I", "-c", LAUNCHER, *args], cwd=cwd, env=environment,
                                capture_output=True, text=True, timeout=timeout)  # fmt: skip
        assert "Traceback" not in result.stderr + result.stdout, result.stderr
        return result

    return run
