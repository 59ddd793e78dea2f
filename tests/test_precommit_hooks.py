"""The pre-commit hooks name real commands that accept the files pre-commit passes them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bootstrap.cli import main

REPO = Path(__file__).resolve().parent.parent
HOOKS = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())


def test_both_hooks_are_declared() -> None:
    assert [hook["id"] for hook in HOOKS] == ["bootstrap-validate", "bootstrap-check"]
    assert all(hook["language"] == "python" and hook["entry"].startswith("bootstrap ") for hook in HOOKS)


@pytest.mark.parametrize("hook", HOOKS, ids=[h["id"] for h in HOOKS])
def test_a_hook_selects_profiles_and_runs_on_them(hook: dict, tmp_path: Path, capsys) -> None:
    files, exclude = re.compile(hook["files"]), re.compile(hook["exclude"])
    chosen = [p for p in ("profiles/base.yaml", "team/profiles/gpu.yml", "profiles/files/pip.conf", "README.md")
              if files.search(p) and not exclude.search(p)]  # fmt: skip
    assert chosen == ["profiles/base.yaml", "team/profiles/gpu.yml"]
    good = tmp_path / "good.yaml"
    good.write_text("name: good\npackages: [htop]\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\npackages: [htop]\ntimezon: UTC\n")
    command = hook["entry"].split()[1:]
    if hook["id"] == "bootstrap-check":
        command += ["--target", "bash"]  # one target keeps the test quick; the hook checks them all
    assert main([*command, str(good)]) == 0
    assert main([*command, str(good), str(bad)]) == 2
    assert "bad.yaml:3:1" in capsys.readouterr().err
