"""`bootstrap diff OLD NEW`: what a profile change does to the machines, per phase and target.

OLD and NEW are profile files or ``REV:path`` git revisions (the tree at REV is exported, so
``extends`` and embedded files resolve as they were). Steps are compared by id and hash; the
verdict says who picks a change up. Exit status, as diff(1): 0 same, 1 different.
"""

from __future__ import annotations

import difflib
import io
import shutil
import tarfile
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
        archive = hermetic.run(["git", "archive", "--format=tar", commit], cwd=top, text=False, timeout=300)
        if archive.returncode != 0:
            raise UsageError(f"{self.reference}: git archive {revision} failed: {archive.stderr.decode().strip()}")
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            _extract_inside(tar, self.folder)
        inside = self.folder / relative
        if not inside.is_file():
            raise UsageError(f"{self.reference}: no such file at {revision}")
        return ProfileFile(str(inside), self.folder)

    def __exit__(self, *exc: object) -> None:
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def _extract_inside(tar: tarfile.TarFile, folder: Path) -> None:
    """Extract what stays inside ``folder``: files, folders and links within the tree; the rest is left out."""
    if hasattr(tarfile, "data_filter"):

        def keep(member: tarfile.TarInfo, destination: str) -> tarfile.TarInfo | None:
            if not (member.isfile() or member.isdir() or member.issym()):
                return None
            try:
                return tarfile.data_filter(member, destination)
            except tarfile.FilterError:
                return None

        tar.extractall(folder, filter=keep)
    else:  # a Python without extraction filters: files and folders only, no links at all
        tar.extractall(folder, members=[m for m in tar.getmembers() if (m.isfile() or m.isdir()) and
                                        not PurePosixPath(m.name).is_absolute() and ".." not in m.name.split("/")])


def _git(arguments: list[str], cwd: Path, failure: str | None = None) -> str:
    proc = hermetic.run(["git", *arguments], cwd=cwd, timeout=60)
    if proc.returncode != 0:
        raise UsageError(failure or f"git {' '.join(arguments)}: {proc.stderr.strip() or 'not a git repository'}")
    return proc.stdout
