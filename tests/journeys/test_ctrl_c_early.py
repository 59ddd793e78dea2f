"""Ctrl-C soon after `bootstrap check` starts, as a user's terminal sends it: exit 130, one line, no
traceback, wherever the run was: still importing bootstrap's modules, or inside a library that
swallows every exception (check's scan of the profiles that extend the one checked reads each YAML
file under an `except Exception`). Each signal is sent at a point the run is known to have reached (a
sitecustomize pauses it there and says so), not after a guessed delay."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import BESIDE_PYTHON

# Pauses the run at one point, then says so in a file: importing the module PAUSE_AT names, or in
# PyYAML's safe_load (which check's scan of the profiles extending the one checked calls).
SITECUSTOMIZE = """
import importlib.abc, os, sys, time
where, reached = os.environ["PAUSE_AT"], os.environ["PAUSE_REACHED"]

def pause():
    open(reached, "w").close()
    time.sleep(60)

if where == "yaml.safe_load":
    import yaml
    load = yaml.safe_load
    def safe_load(*args, **kwargs):
        pause()  # the signal's handler raises here, inside the caller's try
        return load(*args, **kwargs)
    yaml.safe_load = safe_load
else:
    class Pause(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == where:
                sys.meta_path.remove(self)
                pause()
            return None
    sys.meta_path.insert(0, Pause())
"""


def interrupted(repo: Path, tmp_path: Path, pause_at: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = str(BESIDE_PYTHON) if BESIDE_PYTHON.exists() else shutil.which("bootstrap")
    if command is None:
        pytest.skip("the bootstrap command is not installed (pip install .)")
    hooks = tmp_path / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    reached = tmp_path / "reached"
    reached.unlink(missing_ok=True)
    python_path = os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": python_path, "PAUSE_AT": pause_at,
           "PAUSE_REACHED": str(reached), "XDG_CACHE_HOME": str(tmp_path / "cache"), "NO_COLOR": "1"}  # fmt: skip
    process = subprocess.Popen([command, *args], cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while not reached.exists() and process.poll() is None:
        assert time.monotonic() < deadline, "the run never reached " + pause_at
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.fixture
def profile(repo: Path) -> Path:
    (repo / "p.yaml").write_text("name: p\npackages: [jq]\n")
    (repo / "ci.yml").write_text("on: push\njobs: {}\n")  # a CI file: our strict reader refuses `on:`
    return repo / "p.yaml"


@pytest.mark.parametrize("pause_at", ["bootstrap.errors", "bootstrap.interrupts", "bootstrap.checks.run"])
def test_ctrl_c_while_bootstrap_loads_exits_130_in_one_line(repo: Path, tmp_path: Path, profile: Path,
                                                           pause_at: str) -> None:  # fmt: skip
    """bootstrap.errors: the CLI module's own imports; interrupts: main() before its handlers; the checks'
    modules: the command under way."""
    result = interrupted(repo, tmp_path, pause_at, "check", profile.name, "-t", "bash")
    assert "Traceback" not in result.stderr and "KeyboardInterrupt" not in result.stderr, result.stderr
    assert result.returncode == 130, (result.returncode, result.stderr)
    assert "stopped by SIGINT" in result.stderr and result.stdout == "", result


def test_ctrl_c_inside_a_library_that_swallows_it_still_exits_130(repo: Path, tmp_path: Path,
                                                                 profile: Path) -> None:  # fmt: skip
    """Before: the signal vanished in discover's `except Exception`, and the command went on to print
    its report, as if it had never been asked to stop."""
    shutil.which("shellcheck") or pytest.skip("shellcheck is not installed")
    # a folder's scan (discover.profile_files) reads ci.yml with yaml.safe_load in not_a_profile
    result = interrupted(repo, tmp_path, "yaml.safe_load", "rebuild", ".", "--dry-run", "-b", "local")
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 130, (result.returncode, result.stdout, result.stderr)
    assert "stopped by SIGINT" in result.stderr and "ok:" not in result.stdout, result
