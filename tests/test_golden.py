"""Golden files: what every built-in profile renders to, each part once.

* ``tests/golden/<profile>/files/``: the machine files every target installs (runner, lib.sh, plan,
  steps), as the first target carries them, and ``files.txt`` their modes and order;
* ``tests/golden/<profile>/<target>.wrapper``: each target's own bytes with each machine file's
  content replaced by a reference to ``files/`` (and, where its file differs, such as the runner's
  target and instance-id lookup, the lines that differ); a target that sends another's bytes (ec2:
  cloud-init's, gzipped when over its limit) says so instead, and the bytes are compared.

So a template change shows up once per profile where it changes, as a reviewable diff. Each target's
own reader must read back exactly the planned files from its real bytes. Update deliberately with
``pytest tests/test_golden.py --update-golden`` and commit the new files with the change.
"""

from __future__ import annotations

import difflib
import shutil
from functools import cache
from pathlib import Path

import pytest

from bootstrap.plan import Plan
from bootstrap.planner import build_plan
from bootstrap.profile import builtin_profiles, load_profile
from bootstrap.targets import TARGET_RECORDS, TARGETS, render
from bootstrap.targets.bundle import MachineFile, machine_files
from bootstrap.targets.limits import gzip_bytes

GOLDEN = Path(__file__).parent / "golden"
PROFILES = sorted(builtin_profiles())
SHARED = TARGETS[0]  # whose machine files are the profile's files/


@cache
def plan_of(name: str) -> Plan:
    return build_plan(load_profile(name))


def shared_files(name: str) -> list[MachineFile]:
    return machine_files(plan_of(name), TARGET_RECORDS[SHARED].machine)


def reference(file: MachineFile, shared: dict[str, MachineFile]) -> MachineFile:
    """The file as its wrapper shows it: a reference to files/, with the lines where it differs."""
    base = shared.get(file.path)
    if base is None:
        return file
    where = f"files{file.path}"
    if base.content == file.content:
        return MachineFile(file.path, file.mode, f"<golden: {where}>\n")
    lines = difflib.unified_diff(base.content.splitlines(), file.content.splitlines(), lineterm="", n=0)
    hunks = ["@@" if line.startswith("@@") else line for line in list(lines)[2:]]
    return MachineFile(file.path, file.mode, f"<golden: {where}, but:\n" + "\n".join(hunks) + "\n>\n")


def wrapper(name: str, target: str) -> str:
    """What the golden holds for the target: its wrapper, or whose bytes it sends."""
    plan, record = plan_of(name), TARGET_RECORDS[target]
    raw = record.carry(plan)
    same = next((other for other in TARGETS[: TARGETS.index(target)] if TARGET_RECORDS[other].carry(plan) == raw), None)
    artifact = render(plan, target)
    if same is not None:
        return f"the bytes of {same}{', gzipped' if artifact.gzipped else ''}\n"
    shared = {f.path: f for f in shared_files(name)}
    files = [reference(f, shared) for f in machine_files(plan, record.machine)]
    return record.carry(plan, files=files).decode()


def _fail(what: str, old: str, new: str) -> None:
    diff = "\n".join(difflib.unified_diff(old.splitlines(), new.splitlines(), "golden", "now", lineterm=""))
    pytest.fail(f"{what} differs from the golden file (update with --update-golden):\n{diff[:4000]}")


@pytest.mark.parametrize("name", PROFILES)
def test_golden_machine_files(name: str, request: pytest.FixtureRequest) -> None:
    folder = GOLDEN / name
    files = shared_files(name)
    manifest = "".join(f"{f.mode} {f.path}\n" for f in files)
    if request.config.getoption("--update-golden"):
        shutil.rmtree(folder / "files", ignore_errors=True)
        for file in files:
            (folder / "files" / file.path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            (folder / "files" / file.path.lstrip("/")).write_text(file.content)
        (folder / "files.txt").write_text(manifest)
        return
    assert (folder / "files.txt").exists(), f"missing golden files of {name}: run pytest --update-golden"
    if (folder / "files.txt").read_text() != manifest:
        _fail(f"{name}/files.txt", (folder / "files.txt").read_text(), manifest)
    for file in files:
        _compare(folder / "files" / file.path.lstrip("/"), f"{name}/files{file.path}", file.content)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", PROFILES)
def test_golden_wrapper(name: str, target: str, request: pytest.FixtureRequest) -> None:
    path = GOLDEN / name / f"{target}.wrapper"
    text = wrapper(name, target)
    if request.config.getoption("--update-golden"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"missing golden file {name}/{path.name}: run pytest --update-golden"
    _compare(path, f"{name}/{path.name}", text)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", PROFILES)
def test_each_target_carries_exactly_the_planned_files(name: str, target: str) -> None:
    """The wrapper and files/ are views: the real bytes must hold the files they reference, as the target's
    own reader (the one `check` uses) reads them, and be sent as the wrapper says (gzipped or not)."""
    plan, record = plan_of(name), TARGET_RECORDS[target]
    raw, artifact = record.carry(plan), render(plan, target)
    assert artifact.data == (gzip_bytes(raw) if artifact.gzipped else raw)
    carried = record.read(raw).files
    planned = machine_files(plan, record.machine)
    assert list(carried) == [f.path for f in planned]
    for file in planned:  # a heredoc ends each file with a line break: one without gets one
        found = carried[file.path]
        assert (found.mode, found.content.rstrip("\n")) == (file.mode, file.content.rstrip("\n"))


def _compare(path: Path, what: str, text: str) -> None:
    if not path.exists():
        pytest.fail(f"{what}: no golden file (a new file: run pytest --update-golden)")
    if path.read_text() != text:
        _fail(what, path.read_text(), text)
