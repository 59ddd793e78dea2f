"""The package works after a plain, non-editable install, from any directory."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_wheel_carries_templates_and_profiles(tmp_path: Path) -> None:
    pytest.importorskip("hatchling")
    wheel_dir = tmp_path / "dist"
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    build = subprocess.run([*pip_wheel, "-w", str(wheel_dir), str(REPO)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    [wheel] = list(wheel_dir.glob("*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run([str(venv / "bin" / "bootstrap"), "render", "base", "--target", "bash"],
                            cwd=elsewhere, capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "/usr/local/lib/bootstrap/runner" in result.stdout
    where = subprocess.run([str(python), "-c", "import bootstrap.paths as p; print(p.templates_dir())"],
                           cwd=elsewhere, capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "site-packages/bootstrap/_data/templates" in where
    schema = subprocess.run([str(python), "-c", "import bootstrap, pathlib; print((pathlib.Path(bootstrap.__file__)"
                             ".parent / '_data/schema/profile.schema.json').read_text())"],
                            cwd=elsewhere, capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert schema.strip() == (REPO / "schema" / "profile.schema.json").read_text().strip()
    # the boot report's page template too (templates/report/)
    page = subprocess.run([str(python), "-c", "from bootstrap.boot_report import BootRun, render_html; "
                           "print(render_html(BootRun('test', 'base', True, {})))"],
                          cwd=elsewhere, capture_output=True, text=True)  # fmt: skip
    assert page.returncode == 0 and "<svg" not in page.stdout and "bootstrap test base" in page.stdout, page.stderr
    # init's files are package data too: the example team's hooks and workflows, the starter profile
    started = subprocess.run([str(venv / "bin" / "bootstrap"), "init", "team"], cwd=elsewhere, capture_output=True,
                             text=True)  # fmt: skip
    assert started.returncode == 0, started.stderr
    for name in (".pre-commit-config.yaml", ".github/workflows/rebuild-images.yml", "profiles/team.yaml"):
        assert (elsewhere / "team" / name).read_text() == (REPO / "examples" / "team-ml" / name
                                                           if not name.startswith("profiles") else
                                                           REPO / "templates" / "init" / name).read_text(), name


def test_every_install_hint_names_the_distribution() -> None:
    """A user told to `pip install 'bootstrap[aws]'` gets another project: ours is bootstrap-profiles."""
    root = Path(__file__).resolve().parent.parent
    name = re.search(r'^name = "([^"]+)"', (root / "pyproject.toml").read_text(), re.M)
    assert name is not None
    hints = []
    shown = [root / "README.md", *(root / "docs").glob("*.md")]
    for path in [*(root / "bootstrap").rglob("*.py"), *(root / "examples").rglob("*.y*ml"), *shown]:
        found = re.finditer(r"pip install ['\"]?([A-Za-z][\w.-]*)\[", path.read_text())
        hints += [(path.name, match.group(1)) for match in found]
    assert hints, "the install hints moved: look for them again"
    assert all(dist == name.group(1) for _, dist in hints), hints


def test_benchmarks_say_they_need_the_test_extras_instead_of_a_traceback() -> None:
    # -S: no site-packages, so none of the test extras (pytest, moto, ...) can be imported
    proc = subprocess.run([sys.executable, "-S", str(REPO / "benchmarks" / "all.py")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "pip install -e '.[test]'" in proc.stderr
