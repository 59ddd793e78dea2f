"""shellcheck and ``bash -n`` on every script we generate.

Severity floor: ``warning``. Below it, ``info`` SC2016 ("expressions don't expand in single
quotes") fires precisely where profile values containing ``$(...)`` are quoted on purpose,
and ``style`` notes are taste. Errors and warnings are real bugs: in our templates they fail
the tests; in a profile author's ``commands`` they are reported against the step.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import ToolMissing
from . import Finding

SEVERITY_FLOOR = "warning"
_SEVERITY = {"error": "error", "warning": "warning", "info": "info", "style": "info"}


class ShellcheckMissing(ToolMissing):
    """shellcheck is not installed."""


def check_scripts(scripts: dict[str, str], library: str | None = None) -> list[Finding]:
    """Check named bash scripts. ``library`` is the text of lib.sh, which steps source."""
    if shutil.which("shellcheck") is None:
        raise ShellcheckMissing("shellcheck", "shellcheck")
    findings: list[Finding] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if library is not None:
            (folder / "lib.sh").write_text(library)
        paths: dict[str, str] = {}
        for index, (name, text) in enumerate(scripts.items()):
            path = folder / f"s{index:04d}.sh"
            path.write_text(text)
            paths[str(path)] = name
            syntax = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
            if syntax.returncode != 0:
                message = syntax.stderr.strip().replace(str(path), name)
                findings.append(Finding("error", "bash-syntax", name, message))
        proc = subprocess.run(
            ["shellcheck", "--format=json1", f"--severity={SEVERITY_FLOOR}", "--shell=bash", "--external-sources",
             f"--source-path={folder}", *paths],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"shellcheck failed: {proc.stderr.strip()}")
        for comment in json.loads(proc.stdout or '{"comments": []}')["comments"]:
            name = paths.get(comment["file"], comment["file"])
            findings.append(Finding(_SEVERITY.get(comment["level"], "warning"), "shellcheck",
                                    f"{name}:{comment['line']}:{comment['column']}",
                                    f"SC{comment['code']}: {comment['message']}",
                                    f"https://www.shellcheck.net/wiki/SC{comment['code']}"))  # fmt: skip
    return findings
