"""shellcheck and ``bash -n`` on every script we generate.

Severity floor: ``warning``. Below it, ``info`` SC2016 ("expressions don't expand in single
quotes") fires precisely where profile values containing ``$(...)`` are quoted on purpose,
and ``style`` notes are taste. Errors and warnings are real bugs: in our templates they fail
the tests; in a profile author's ``commands`` they are reported against the step.

Speed: the runner, lib.sh and every step are the same bytes in every target (and often across a
team's profiles), so each distinct text is checked once, its answer kept in a content-addressed
cache (cache.py), and what is left is shared out to parallel shellcheck processes.

The scripts are attacker text (a pull request's ``commands``), so shellcheck reads nothing else:
no ``--external-sources`` (a ``# shellcheck source=/etc/shadow`` directive then reads nothing, and
``source=/dev/zero`` cannot hang it), no rc file (``--norc``: a planted ``.shellcheckrc`` cannot
turn that back on), only our own files as inputs (lib.sh among them, which is how a step's
``source lib.sh`` is followed), in a private folder, bounded in time and memory (hermetic.py). A
checker that dies or times out is an error finding on the scripts it was given, never a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

from .. import hermetic
from ..errors import ToolMissing
from . import Finding
from .cache import FindingsCache, key

SEVERITY_FLOOR = "warning"
OPTIONS = ("--format=json1", f"--severity={SEVERITY_FLOOR}", "--shell=bash", "--norc")
TIMEOUT = 300  # seconds for one batch: a few seconds in practice
_SEVERITY = {"error": "error", "warning": "warning", "info": "info", "style": "info"}
NAME = "\x00script\x00"  # stands for the script's name in a cached bash -n message


class ShellcheckMissing(ToolMissing):
    """shellcheck is not installed."""


def check_scripts(scripts: dict[str, str], library: str | None = None,
                  findings_cache: FindingsCache | None = None) -> list[Finding]:  # fmt: skip
    """Check named bash scripts. ``library`` is the text of lib.sh, which steps source."""
    by_script = findings_by_script(scripts, library, findings_cache)
    return [finding for name in scripts for finding in by_script[name]]


def findings_by_script(scripts: dict[str, str], library: str | None = None,
                       findings_cache: FindingsCache | None = None) -> dict[str, list[Finding]]:  # fmt: skip
    """Each named script's findings; each distinct text checked once, or read from the cache."""
    if shutil.which("shellcheck") is None:
        raise ShellcheckMissing("shellcheck", "shellcheck")
    store = findings_cache or FindingsCache()
    sourced = sourced_view(library) if library is not None else None
    keys = {text: key("shellcheck", *_identity(), *OPTIONS, sourced or "", text)
            for text in dict.fromkeys(scripts.values())}  # fmt: skip
    answers: dict[str, list[dict[str, Any]]] = {}
    for text, digest in keys.items():
        if (cached := store.get(digest)) is not None:
            answers[text] = cached
    fresh = _check_texts([text for text in keys if text not in answers], sourced)
    for text, answer in fresh.items():
        if not any(raw.get("transient") for raw in answer):  # a checker that failed is asked again next time
            store.put(keys[text], answer)
    answers |= fresh
    return {name: [_finding(name, raw) for raw in answers[text]] for name, text in scripts.items()}


def sourced_view(library: str) -> str:
    """What a step sees of lib.sh when shellcheck follows its `source` line (see interface.py)."""
    from .interface import interface

    return interface(library)


def _finding(name: str, raw: dict[str, Any]) -> Finding:
    where = f"{name}:{raw['line']}:{raw['column']}" if raw["check"] == "shellcheck" else name
    return Finding(raw["severity"], raw["check"], where, raw["message"].replace(NAME, name), raw.get("hint"))


@cache
def _identity() -> tuple[str, str]:
    """Which shellcheck and bash answer: a new version of either is a new cache key."""
    binary = shutil.which("shellcheck") or ""
    version = hermetic.run(["shellcheck", "--version"], timeout=60).stdout
    bash = hermetic.run(["bash", "--version"], timeout=60).stdout.split("\n", 1)[0]
    size = os.stat(binary).st_size if binary else 0
    return f"{binary}:{size}:{version.strip()}", bash


def _check_texts(texts: list[str], library: str | None) -> dict[str, list[dict[str, Any]]]:
    """Run bash -n and shellcheck on ``texts`` (in parallel), each text's raw findings in order;
    ``library`` is what a `source lib.sh` line reads."""
    if not texts:
        return {}
    jobs = max(1, min(len(texts), os.cpu_count() or 1))
    # Small batches, largest first, taken by whichever process is free: the cores finish together.
    ordered = sorted(texts, key=len, reverse=True)
    size = max(1, len(ordered) // (jobs * 3))
    chunks = [ordered[i : i + size] for i in range(0, len(ordered), size)]
    with tempfile.TemporaryDirectory(prefix="bootstrap-check-") as tmp:
        folder = Path(tmp)
        if library is not None:
            (folder / "lib.sh").write_text(library)
        paths = {text: folder / f"s{index:04d}.sh" for index, text in enumerate(texts)}
        for text, path in paths.items():
            path.write_text(text)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(lambda chunk: _check_chunk(chunk, paths, folder), chunks))
    return {text: answer for result in results for text, answer in result.items()}


def _check_chunk(texts: list[str], paths: dict[str, Path], folder: Path) -> dict[str, list[dict[str, Any]]]:
    try:
        return _run_checkers(texts, paths, folder)
    except hermetic.ToolFailed as failed:
        failure = {"check": "shellcheck", "severity": "error", "line": 0, "column": 0,
                   "message": f"could not be checked: {failed}", "transient": True}  # fmt: skip
        return {text: [failure] for text in texts}


def _run_checkers(texts: list[str], paths: dict[str, Path], folder: Path) -> dict[str, list[dict[str, Any]]]:
    answers: dict[str, list[dict[str, Any]]] = {text: [] for text in texts}
    by_path = {str(paths[text]): text for text in texts}
    for text in texts:
        syntax = hermetic.run(["bash", "-n", str(paths[text])], timeout=60, memory_mb=hermetic.CHECKER_MEMORY_MB)
        if syntax.returncode != 0:
            message = syntax.stderr.strip().replace(str(paths[text]), NAME)
            answers[text].append({"check": "bash-syntax", "severity": "error", "line": 0, "column": 0,
                                  "message": message})  # fmt: skip
    library = [str(folder / "lib.sh")] if (folder / "lib.sh").exists() else []  # an input: so `source` follows it
    proc = hermetic.run(["shellcheck", *OPTIONS, f"--source-path={folder}", *by_path, *library], timeout=TIMEOUT,
                        memory_mb=hermetic.CHECKER_MEMORY_MB)  # fmt: skip
    if proc.returncode not in (0, 1):
        raise hermetic.ToolFailed("shellcheck", f"exit {proc.returncode}: {proc.stderr.strip()[-500:]}")
    comments = json.loads(proc.stdout or '{"comments": []}')["comments"]
    for comment in sorted(comments, key=lambda c: (c["file"], c["line"], c["column"], c["code"])):
        owner = by_path.get(comment["file"])
        if owner is None:
            continue  # a finding inside lib.sh, which is checked as a script of its own
        answers[owner].append({"check": "shellcheck", "severity": _SEVERITY.get(comment["level"], "warning"),
                              "line": comment["line"], "column": comment["column"],
                              "message": f"SC{comment['code']}: {comment['message']}",
                              "hint": f"https://www.shellcheck.net/wiki/SC{comment['code']}"})  # fmt: skip
    return answers
