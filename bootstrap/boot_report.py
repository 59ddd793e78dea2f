"""The boot report `bootstrap test` and `bake` keep: a folder with each boot's console log, the JSON
report (what --json prints) and index.html, one self-contained page (no scripts, no external
resources) that draws each boot as a timeline of its steps.

Everything on the page that a profile or a guest wrote (step names, console lines, the client's
name, problems) goes through Jinja's HTML autoescape; the SVG's geometry is computed here, numbers only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from .console import GuestReport
from .errors import ReportFolderError
from .paths import templates_dir

DEFAULT_ROOT = Path(".bootstrap") / "reports"  # under the current folder, beside the work it reports on
CONSOLE_TAIL = 40  # console lines shown on the page per boot (the whole log is beside it)
STATUSES = {  # a step's result: its colour, and the words of the legend (the page works without colour)
    "ok": ("#2e7d32", "ok: ran and exited 0"),
    "failed": ("#c62828", "failed: exited non-zero"),
    "baked": ("#607d8b", "baked: ran in the image's bake, skipped here"),
}
OTHER = ("#f9a825", "other")
# The timeline's drawing, in pixels: a name column sized to the longest name (monospace), bars, then words.
ROW, TOP, CHAR, NAME_MAX, BARS_WIDTH, INFO_WIDTH = 22, 26, 7.5, 60, 420, 300


@dataclass
class Boot:
    label: str  # first boot, reboot 1, relaunch, builder, golden image test boot
    report: GuestReport
    instance: str = ""
    sent: dict[str, Any] | None = None  # what the backend handed this machine (size, sha256), where known


@dataclass
class BootRun:
    """One run of `test` or `bake`, as the report tells it."""

    command: str
    profile: str
    ok: bool
    data: dict[str, Any]  # the JSON report
    boots: list[Boot] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    target: str = ""
    client: str = ""
    delivered: list[dict[str, Any]] = field(default_factory=list)


def digest(data: bytes) -> dict[str, Any]:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def boot_labels(results: list[str], instances: list[str]) -> list[str]:
    """Each boot of `bootstrap test` named by what it was: the first, a reboot, a relaunch as a new instance."""
    labels, reboots = [], 0
    for number, instance in enumerate(instances):
        if number == 0:
            labels.append("first boot")
        elif instance != instances[number - 1]:
            labels.append("relaunch (a new instance)")
        elif results[number - 1] == "rebooting":
            labels.append("after the runner's own reboot")
        else:
            reboots += 1
            labels.append(f"reboot {reboots}")
    return labels


def check_folder(folder: Path) -> None:
    """Refuse, before anything boots, a --report folder that holds something (a report is never
    overwritten) or that is not a folder."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise ReportFolderError(f"--report {folder}: not a folder; name a new or empty folder for the report")
    if folder.is_dir() and any(folder.iterdir()):
        raise ReportFolderError(f"--report {folder}: the folder holds files already (a report is never overwritten); "
                                "name a new or empty folder")  # fmt: skip


def new_folder(root: Path, profile: str, command: str, now: float | None = None) -> Path:
    """A fresh folder under ``root``: PROFILE-COMMAND-UTCSTAMP, with -2, -3 ... when that one exists."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    for number in range(1, 1000):
        folder = root / (f"{profile}-{command}-{stamp}" + (f"-{number}" if number > 1 else ""))
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue
        return folder
    raise ReportFolderError(f"no free report folder name under {root}: clear out old reports")


def write_report(run: BootRun, folder: Path | None = None, root: Path = DEFAULT_ROOT) -> Path:
    """Write ``run``'s report into ``folder`` (made if missing; checked empty), else a new folder under
    ``root``. Files are 0600: a console shows what each step printed. Returns the folder."""
    if folder is None:
        folder = new_folder(root, run.profile, run.command)
    else:
        check_folder(folder)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    logs = []
    for number, boot in enumerate(run.boots, start=1):
        name = f"boot-{number}-{_slug(boot.label)}.log"
        _write_new(folder / name, boot.report.console)
        logs.append(name)
    _write_new(folder / "report.json", json.dumps(run.data, indent=2, default=str) + "\n")
    _write_new(folder / "index.html", render_html(run, logs))
    return folder


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "boot"


def _write_new(path: Path, text: str) -> None:
    """A new file only: never one that is there already, nor through a link planted in its place."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8", errors="backslashreplace") as out:
        out.write(text)


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir() / "report")),
                              autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True)  # fmt: skip


def render_html(run: BootRun, logs: list[str] | None = None) -> str:
    logs = logs or [""] * len(run.boots)
    boots = [_boot_view(number, boot, log) for number, (boot, log) in enumerate(zip(run.boots, logs, strict=True), 1)]
    legend = [{"status": status, "color": color, "words": words} for status, (color, words) in STATUSES.items()]
    return _environment().get_template("index.html.j2").render(
        run=run, boots=boots, legend=legend, generated=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))


def _boot_view(number: int, boot: Boot, log: str) -> dict[str, Any]:
    """What the template draws for one boot: each step's row, positions computed here."""
    steps = boot.report.steps
    longest = max((min(len(str(s.get("id", ""))), NAME_MAX) for s in steps), default=4)
    name_width = int(longest * CHAR) + 16
    total = sum(int(s.get("duration_ms", 0)) for s in steps) or 1
    rows, start = [], 0
    for index, step in enumerate(steps):
        status = str(step.get("status", ""))
        color, _ = STATUSES.get(status, OTHER)
        duration = int(step.get("duration_ms", 0))
        name = str(step.get("id", ""))
        x = name_width + start * BARS_WIDTH / total
        rows.append({"name": name, "shown": name if len(name) <= NAME_MAX else name[: NAME_MAX - 1] + "…",
                     "phase": str(step.get("phase", "")), "status": status, "color": color, "duration": duration,
                     "exit": step.get("exit_code", 0), "y": TOP + index * ROW, "x": round(x, 1),
                     "width": round(max(duration * BARS_WIDTH / total, 2), 1)})  # fmt: skip
        start += duration
    tail = boot.report.console.splitlines()[-CONSOLE_TAIL:]
    return {"number": number, "label": boot.label, "instance": boot.instance, "result": boot.report.result,
            "failed_step": boot.report.failed_step, "seconds": boot.report.seconds, "rows": rows,
            "name_width": name_width, "bars_end": name_width + BARS_WIDTH, "info_x": name_width + BARS_WIDTH + 10,
            "width": name_width + BARS_WIDTH + INFO_WIDTH, "height": TOP + 8 + max(len(rows), 1) * ROW,
            "total_ms": sum(r["duration"] for r in rows), "tail": "\n".join(tail), "log": log,
            "sent": boot.sent}  # fmt: skip


def received(delivered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each thing the guest received as one row: where, read by, size, sha256 (a GCE attribute's digest is
    the value's, under its key, not the whole response's)."""
    rows = []
    for got in delivered:
        value = got.get("startup-script") or got.get("user-data") or got
        rows.append({"path": got.get("path", ""), "user_agent": got.get("user_agent", ""),
                     "size": int(value.get("size", 0)), "sha256": value.get("sha256", "")})  # fmt: skip
    return rows


def from_proof(proof: Any, data: dict[str, Any]) -> BootRun:
    """`bootstrap test`'s proof (localvm/proof.py) as a report; ``data``: its JSON."""
    labels = boot_labels([b.result for b in proof.boots], proof.instances)
    boots = [Boot(label, report, instance)
             for label, report, instance in zip(labels, proof.boots, proof.instances, strict=True)]  # fmt: skip
    return BootRun("test", proof.profile, proof.ok, data, boots, list(proof.problems), proof.target, proof.client,
                   received(proof.delivered))  # fmt: skip
