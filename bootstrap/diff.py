"""`bootstrap diff OLD NEW`: what a profile change does to the machines, per phase and target.

OLD and NEW are profile files or ``REV:path`` git revisions (the tree at REV is exported, so
``extends`` and embedded files resolve as they were). Steps are compared by id and hash; the
verdict says who picks a change up. Exit status, as diff(1): 0 same, 1 different.
"""

from __future__ import annotations

import difflib
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from . import boundary, hermetic
from .errors import UsageError
from .plan import Phase, Plan, Step
from .targets.bundle import step_script


@dataclass
class PhaseChange:
    phase: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return bool(self.added or self.removed or self.changed)


@dataclass
class Comparison:
    old: Plan
    new: Plan
    phases: list[PhaseChange]
    targets: dict[str, list[str]]  # unified diff lines of the rendered output per target
    verdicts: list[str]

    @property
    def different(self) -> bool:
        return any(self.targets.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "old": {"profile": self.old.profile, "plan_hash": self.old.hash, "image_hash": self.old.image_hash},
            "new": {"profile": self.new.profile, "plan_hash": self.new.hash, "image_hash": self.new.image_hash},
            "different": self.different, "verdicts": self.verdicts,
            "phases": [p.__dict__ for p in self.phases],
            "targets": {t: {"changed": bool(lines), "diff": lines} for t, lines in self.targets.items()},
        }  # fmt: skip


def compare(old: Plan, new: Plan) -> Comparison:
    from .targets import TARGET_RECORDS, render

    phases = [_phase_change(old, new, phase) for phase in Phase]
    targets = {}
    for target in (name for name, record in TARGET_RECORDS.items() if record.in_diff):
        before = render(old, target).data.decode(errors="replace").splitlines()
        after = render(new, target).data.decode(errors="replace").splitlines()
        targets[target] = list(difflib.unified_diff(before, after, f"old/{target}", f"new/{target}", lineterm=""))
    return Comparison(old, new, phases, targets, _verdicts(old, new, phases, any(targets.values())))


def _steps(plan: Plan, phase: Phase) -> dict[str, Step]:
    return {s.id: s for s in plan.phase(phase)}


def _phase_change(old: Plan, new: Plan, phase: Phase) -> PhaseChange:
    before, after = _steps(old, phase), _steps(new, phase)
    return PhaseChange(
        phase.value,
        added=[i for i in after if i not in before],
        removed=[i for i in before if i not in after],
        changed=[i for i in after if i in before and after[i].hash != before[i].hash],
    )


def _verdicts(old: Plan, new: Plan, phases: list[PhaseChange], output_changed: bool) -> list[str]:
    first, every = phases
    verdicts = []
    if old.image_hash != new.image_hash:
        verdicts.append("image-scope steps changed: the golden image must be rebuilt (bootstrap bake, or the "
                        "scheduled bootstrap rebuild)")  # fmt: skip
    if first.any:
        verdicts.append("first-boot steps changed: running instances are unaffected; new instances and the next "
                        "bake pick it up")  # fmt: skip
    if every.any:
        verdicts.append("every-boot steps changed: running instances pick it up on their next reboot only if "
                        "their user data (or startup-script) is updated")  # fmt: skip
    if output_changed and not verdicts:
        verdicts.append("no step changed, but the rendered output did (runner or packaging): harmless to running "
                        "instances; new instances get it")  # fmt: skip
    return verdicts or ["no change: the rendered output is identical"]


def step_diffs(old: Plan, new: Plan, changed: list[str]) -> list[str]:
    before = {s.id: s for s in old.ordered}
    after = {s.id: s for s in new.ordered}
    lines: list[str] = []
    for step_id in changed:
        old_text, new_text = step_script(before[step_id]).splitlines(), step_script(after[step_id]).splitlines()
        lines += difflib.unified_diff(old_text, new_text, f"old/steps/{step_id}.sh", f"new/steps/{step_id}.sh",
                                      lineterm="")  # fmt: skip
    return lines


@dataclass(frozen=True)
class ProfileFile:
    path: str
    root: Path | None = None  # the exported tree a revision's profile may read from


class Revision:
    """A ``REV:path`` profile exported from git into a temporary tree (removed on exit, and on any
    failure on the way in). The revision is resolved to a commit first (never read as an option),
    the path must stay inside the tree, and the export keeps only regular files, folders and links
    that stay inside it (tarfile's data filter): a committed link to /etc is simply not there."""

    def __init__(self, reference: str):
        self.reference = reference
        self.folder: Path | None = None

    def __enter__(self) -> ProfileFile:
        if ":" not in self.reference or Path(self.reference).exists():
            return ProfileFile(self.reference)
        given_revision, given_path = self.reference.split(":", 1)
        revision = boundary.revision(given_revision, self.reference)
        path = boundary.revision_path(given_path, self.reference)
        top = _git(["rev-parse", "--show-toplevel"], Path.cwd()).strip()
        prefix = _git(["rev-parse", "--show-prefix"], Path.cwd()).strip()
        commit = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}"], Path(top),
                      f"{self.reference}: no commit {revision!r} in {top}").strip()  # fmt: skip
        self.folder = Path(tempfile.mkdtemp(prefix="bootstrap-diff-"))
        try:
            # git's REV:path is relative to the repository top, unless it starts with ./ (relative to here)
            relative = PurePosixPath(prefix) / path if given_path.startswith("./") else path
            return self._export(Path(top), commit, revision, relative)
        except BaseException:
            self.__exit__()
            raise

    def _export(self, top: Path, commit: str, revision: str, relative: PurePosixPath) -> ProfileFile:
        assert self.folder is not None
        _write_tree(top, commit, self.folder, self.reference)
        inside = self.folder / relative
        if not inside.is_file():
            raise UsageError(f"{self.reference}: no such file at {revision}")
        return ProfileFile(str(inside), self.folder)

    def __exit__(self, *exc: object) -> None:
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def _write_tree(top: Path, commit: str, folder: Path, reference: str) -> None:
    """The commit's files as git stores them, written under ``folder``: read as raw objects (ls-tree,
    cat-file), so no attribute of the tree (a `filter=` in its .gitattributes, which git archive would
    run) starts anything. Regular files and folders; links only when they stay inside the tree."""
    listing = hermetic.run(["git", "ls-tree", "-r", "-z", "--full-tree", commit], cwd=top, text=False, timeout=120)
    if listing.returncode != 0:
        raise UsageError(f"{reference}: git ls-tree failed: {listing.stderr.decode(errors='replace').strip()}")
    entries = []
    for record in listing.stdout.split(b"\0"):
        if not record:
            continue
        meta, _, name = record.partition(b"\t")
        mode, kind, sha = meta.decode().split()
        path = PurePosixPath(name.decode("utf-8", "surrogateescape"))
        if kind == "blob" and not path.is_absolute() and ".." not in path.parts:
            entries.append((mode, sha, path))
    batch = hermetic.run(["git", "cat-file", "--batch"], cwd=top, text=False, timeout=300,
                         input=b"".join(sha.encode() + b"\n" for _, sha, _ in entries))  # fmt: skip
    if batch.returncode != 0:
        raise UsageError(f"{reference}: git cat-file failed: {batch.stderr.decode(errors='replace').strip()}")
    data, at = batch.stdout, 0
    for mode, _, path in entries:
        header_end = data.index(b"\n", at)
        size = int(data[at:header_end].split()[2])
        body = data[header_end + 1 : header_end + 1 + size]
        at = header_end + 1 + size + 1  # the object, then a newline
        target = folder.joinpath(*path.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        if mode == "120000":
            link = PurePosixPath(body.decode("utf-8", "surrogateescape"))
            if not link.is_absolute() and _stays_inside(path.parent / link):
                target.symlink_to(str(link))
        else:
            target.write_bytes(body)


def _stays_inside(path: PurePosixPath) -> bool:
    depth = 0
    for part in path.parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            return False
    return True


def _git(arguments: list[str], cwd: Path, failure: str | None = None) -> str:
    proc = hermetic.run(["git", *arguments], cwd=cwd, timeout=60)
    if proc.returncode != 0:
        raise UsageError(failure or f"git {' '.join(arguments)}: {proc.stderr.strip() or 'not a git repository'}")
    return proc.stdout
