"""ruff and mypy keep the code base clean; run as tests so CI enforces them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_ruff_clean() -> None:
    beside_python = Path(sys.executable).parent / "ruff"
    ruff = str(beside_python) if beside_python.exists() else shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    result = subprocess.run([ruff, "check", str(REPO)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_mypy_clean() -> None:
    """Type hints checked: a Protocol whose signature drifts from its backends fails here."""
    pytest.importorskip("mypy", reason="mypy comes with the test extras")
    result = subprocess.run([sys.executable, "-m", "mypy", str(REPO / "bootstrap")], capture_output=True, text=True,
                            cwd=REPO)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_localvm_never_imports_bake() -> None:
    """Data moves one way: bake builds on localvm (the local backend), never the reverse."""
    import ast

    offenders = []
    for path in sorted((REPO / "bootstrap" / "localvm").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                names = [module + "." + alias.name for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            if any(name.lstrip(".").startswith("bake") or ".bake" in name for name in names):
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


@pytest.mark.parametrize("flag", ["--json", "--dry-run", "--force", "--keep", "--timeout", "-o", "--mode", "--set"])
def test_shared_options_are_declared_once(flag: str) -> None:
    """Each shared option has one declaration (bootstrap/options.py), so one meaning and one wording."""
    import ast

    def declares(node: ast.AST) -> bool:
        # An argparse declaration: add_argument("-o", ...); a "-o" in a mount command line is not one.
        return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add_argument"
                and any(isinstance(arg, ast.Constant) and arg.value == flag for arg in node.args))  # fmt: skip

    declared = [
        f"{path.relative_to(REPO)}"
        for path in sorted((REPO / "bootstrap").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if declares(node)
    ]
    assert declared == ["bootstrap/options.py"]
