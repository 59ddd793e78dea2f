"""ruff and mypy keep the code base clean; run as tests so CI enforces them."""

from __future__ import annotations

import ast
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


# Process starters outside hermetic.py: each would run a program with our working folder and environment.
PROCESS_STARTERS = {
    "subprocess": {"run", "Popen", "call", "check_call", "check_output", "getoutput", "getstatusoutput"},
    "os": {"system", "popen", "execv", "execve", "execvp", "execvpe", "execl", "execle", "execlp", "execlpe",
           "spawnv", "spawnve", "spawnvp", "spawnvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe", "posix_spawn",
           "posix_spawnp", "fork", "forkpty"},
    "pty": {"spawn", "fork"},
    "asyncio": {"create_subprocess_exec", "create_subprocess_shell"},
    "multiprocessing": {"Process", "Pool"},
}  # fmt: skip


def process_starts(tree: ast.AST) -> list[tuple[int, str]]:
    """Every call or import of a process starter in a module: ``subprocess.run(...)``, ``from os import
    system``, ``import subprocess as sp; sp.Popen(...)``."""
    aliases: dict[str, str] = {}
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in PROCESS_STARTERS:
                    aliases[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module in PROCESS_STARTERS:
            for alias in node.names:
                if alias.name in PROCESS_STARTERS[node.module]:
                    found.append((node.lineno, f"from {node.module} import {alias.name}"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) and node.func.value.id in aliases:  # fmt: skip
            module = aliases[node.func.value.id]
            if node.func.attr in PROCESS_STARTERS[module]:
                found.append((node.lineno, f"{module}.{node.func.attr}"))
    return found


def test_every_program_is_started_through_the_hermetic_helper() -> None:
    """SECURITY.md, the rendering host: a program started any other way would run in the checkout
    (a yaml.py there imported by a Python child) with the CI job's whole environment."""
    offenders = [f"{path.relative_to(REPO)}:{line}: {what}"
                 for path in sorted((REPO / "bootstrap").rglob("*.py")) if path.name != "hermetic.py"
                 for line, what in process_starts(ast.parse(path.read_text()))]  # fmt: skip
    assert offenders == [], "start programs with bootstrap.hermetic.run/start:\n" + "\n".join(offenders)


def test_the_process_lint_finds_each_way_of_starting_one() -> None:
    """The lint above is only as good as what it recognises: each spelling is caught."""
    spellings = {
        "import subprocess\nsubprocess.run(['x'])\n": "subprocess.run",
        "import subprocess as sp\nsp.Popen(['x'])\n": "subprocess.Popen",
        "from subprocess import check_output\n": "from subprocess import check_output",
        "import os\nos.system('x')\n": "os.system",
        "import os\nos.execvp('x', ['x'])\n": "os.execvp",
        "import asyncio\nasyncio.create_subprocess_exec('x')\n": "asyncio.create_subprocess_exec",
    }
    for source, expected in spellings.items():
        assert [what for _, what in process_starts(ast.parse(source))] == [expected], source
    assert process_starts(ast.parse("import subprocess\nsubprocess.TimeoutExpired\n")) == []
