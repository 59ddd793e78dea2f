"""`bootstrap diff OLD NEW`: what a profile change does to the machines, per phase and target.

OLD and NEW are profile files or ``REV:path`` git revisions (the tree at REV is exported, so
``extends`` and embedded files resolve as they were). Steps are compared by id and hash; the
verdict says who picks a change up. Exit status, as diff(1): 0 same, 1 different.

When OLD and NEW are one profile at two points (``REV:path path``, ``REV1:path REV2:path``), the
profiles of the same repository that extend it are compared too (``family``): each at the same two
points, its old version read from OLD's tree and merged with the old parent, its new one from NEW's;
a child that the change stops validating, or pushes over a cloud's size limit, is a finding.
"""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from . import boundary, hermetic
from .errors import InputError, RenderError, UsageError
from .layers import UNRESOLVED, Chain, LayerChange, image_layers, layer_change
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
    chains: tuple[Chain, Chain]  # OLD's and NEW's image layers, over one (unnamed) source
    layers: LayerChange  # the first of NEW's layers a bake can no longer take from OLD's cache

    @property
    def layers_changed(self) -> bool:
        return self.layers.first is not None or len(self.chains[0].layers) != len(self.chains[1].layers)

    @property
    def different(self) -> bool:
        return any(self.targets.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "old": {"profile": self.old.profile, "plan_hash": self.old.hash, "image_hash": self.old.image_hash},
            "new": {"profile": self.new.profile, "plan_hash": self.new.hash, "image_hash": self.new.image_hash},
            "different": self.different, "verdicts": self.verdicts,
            "phases": [p.__dict__ for p in self.phases],
            "layers": {**self.layers.to_json(), "old": self.chains[0].to_json()["layers"],
                       "new": self.chains[1].to_json()["layers"]},
            "targets": {t: {"changed": bool(lines), "diff": lines} for t, lines in self.targets.items()},
        }  # fmt: skip


def compare(old: Plan, new: Plan) -> Comparison:
    from .targets import TARGET_RECORDS

    phases = [_phase_change(old, new, phase) for phase in Phase]
    targets = {}
    for target in (name for name, record in TARGET_RECORDS.items() if record.in_diff):
        before = _output(old, target).decode(errors="replace").splitlines()
        after = _output(new, target).decode(errors="replace").splitlines()
        targets[target] = list(difflib.unified_diff(before, after, f"old/{target}", f"new/{target}", lineterm=""))
    chains = image_layers(old, UNRESOLVED), image_layers(new, UNRESOLVED)  # one source: what the steps change
    return Comparison(old, new, phases, targets, _verdicts(old, new, phases, any(targets.values())), chains,
                      layer_change(*chains))  # fmt: skip


def _output(plan: Plan, target: str) -> bytes:
    """The target's bytes; for one over its cloud's limit (which ``render`` refuses), the bytes it would
    be: the diff still shows the change, and ``sizes`` says it no longer fits."""
    from .targets import TARGET_RECORDS, render

    try:
        return render(plan, target).data
    except RenderError:
        return TARGET_RECORDS[target].carry(plan)


@dataclass(frozen=True)
class Size:
    """What one target sends, before and after (None: that side has no plan), against its cloud's limit."""

    target: str
    before: int | None
    after: int | None
    limit: int  # 0: no cloud carries it
    limit_name: str
    severity: str  # of being over: error where the cloud refuses it, warning where only some do

    def over(self, size: int | None) -> bool:
        return bool(self.limit) and size is not None and size > self.limit

    @property
    def pushed_over(self) -> bool:
        return self.over(self.after) and not self.over(self.before)

    def to_json(self) -> dict[str, Any]:
        return {"before": self.before, "after": self.after, "limit": self.limit, "limit_name": self.limit_name,
                "over_before": self.over(self.before), "over_after": self.over(self.after),
                "severity": self.severity}  # fmt: skip


def sizes(old: Plan | None, new: Plan | None) -> list[Size]:
    """Bytes sent per target (what the cloud counts: EC2's gzipped user data when over its raw limit)."""
    from .checks.size import budgets
    from .targets import TARGETS

    before = {b.target: b for b in budgets(old, list(TARGETS))} if old else {}
    after = {b.target: b for b in budgets(new, list(TARGETS))} if new else {}
    result = []
    for name in TARGETS:
        budget = after.get(name) or before[name]
        result.append(Size(name, before[name].sent if name in before else None,
                           after[name].sent if name in after else None, budget.limit, budget.limit_name,
                           budget.severity_over))  # fmt: skip
    return result


def size_findings(shown: str, each: list[Size]) -> list[dict[str, str]]:
    """A target this change pushes over its cloud's limit (one already over before is said, not a finding)."""
    return [
        {"severity": size.severity, "message": f"{shown}: {size.target}: {size.after:,} bytes sent is over the "
                                              f"{size.limit_name} limit of {size.limit:,}"
                                              + (f" (was {size.before:,})" if size.before is not None else "")}
        for size in each
        if size.pushed_over
    ]  # fmt: skip


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
    revision: str = ""  # as typed (HEAD~1), for a revision
    repository: Path | None = None  # the git top level a revision was read from


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
        return ProfileFile(str(inside), self.folder, revision, top)

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


# --- the profiles that extend the one diffed ------------------------------------------------------


@dataclass(frozen=True)
class Tree:
    """Where one side's profiles are: a revision exported by ``Revision``, or the working tree."""

    root: Path  # the folder read from (the boundary of every profile in it)
    profile: PurePosixPath  # the profile diffed, inside it
    repository: Path  # the repository it comes from
    label: str  # how its files are named to the user: "HEAD~1:" for a revision, "" for the working tree

    def shown(self, text: str) -> str:
        """``text`` (a problem) with the exported folder's paths as ``REV:path``."""
        if not self.label:
            return text
        from .profile import display_path

        real = self.root.resolve()
        for form in dict.fromkeys((str(real), str(self.root), display_path(real))):
            text = text.replace(form + "/", self.label)
        return text


def _tree(file: ProfileFile) -> Tree | None:
    path = Path(file.path)
    if file.root is not None:
        root = file.root.resolve()
        try:
            return Tree(root, PurePosixPath(path.resolve().relative_to(root).as_posix()),
                        (file.repository or root).resolve(), f"{file.revision}:")  # fmt: skip
        except ValueError:
            return None
    if not path.is_file():  # a built-in profile by name: nothing in a repository extends it by path
        return None
    repository = boundary.repository_root(path)
    try:
        return Tree(repository, PurePosixPath(path.resolve().relative_to(repository).as_posix()), repository, "")
    except ValueError:  # a link out of its repository, which loading it refused already
        return None


@dataclass(frozen=True)
class Side:
    """One version of a profile: its plan, or the problems that stop it from having one."""

    plan: Plan | None = None
    problems: tuple[str, ...] = ()
    present: bool = True


def _load(tree: Tree, relative: PurePosixPath) -> Side:
    from .planner import build_plan
    from .profile import load_profile

    path = tree.root.joinpath(*relative.parts)
    if not path.is_file():
        return Side(present=False)
    try:
        return Side(build_plan(load_profile(str(path), root=tree.root)))
    except InputError as exc:
        return Side(problems=tuple(tree.shown(str(problem)) for problem in exc.problems))
    except RenderError as exc:  # bounded expansion
        return Side(problems=(tree.shown(f"error: {exc}"),))


@dataclass
class Dependent:
    """A profile that extends the one diffed, and what the change does to it."""

    path: str  # inside the repository
    via: list[str]  # the profiles between it and the one diffed (none: it names it itself)
    old: Side
    new: Side
    comparison: Comparison | None = None
    sizes: list[Size] = field(default_factory=list)

    @property
    def name(self) -> str:
        plan = self.new.plan or self.old.plan
        return plan.profile if plan else PurePosixPath(self.path).stem

    @property
    def status(self) -> str:
        old, new = self.old, self.new
        if not old.present:
            return "new profile" if new.plan else "new profile, does not validate"
        if not new.present:
            return "deleted"
        if old.plan and not new.plan:
            return "no longer validates"
        if not old.plan and not new.plan:
            return "still does not validate"
        if not old.plan:
            return "validates again"
        return "changed" if self.comparison and self.comparison.different else "unchanged"

    @property
    def different(self) -> bool:
        if self.status == "still does not validate":
            return self.old.problems != self.new.problems
        return self.status != "unchanged"

    @property
    def findings(self) -> list[dict[str, str]]:
        found = []
        if self.new.present and not self.new.plan and (self.old.plan or not self.old.present):
            what = "no longer validates" if self.old.present else "does not validate"
            found.append({"severity": "error", "message": f"{self.path}: {what} ({self.new.problems[0]})"})
        return found + size_findings(self.path, self.sizes)

    def to_json(self) -> dict[str, Any]:
        def side(each: Side) -> dict[str, Any] | None:
            if not each.present:
                return None
            if each.plan is None:
                return {"problems": list(each.problems)}
            return {"plan_hash": each.plan.hash, "image_hash": each.plan.image_hash}

        compared = self.comparison.to_json() if self.comparison else {}
        return {"path": self.path, "profile": self.name, "via": self.via, "status": self.status,
                "different": self.different, "findings": self.findings, "old": side(self.old), "new": side(self.new),
                "verdicts": compared.get("verdicts", []), "phases": compared.get("phases", []),
                "layers": compared.get("layers"),
                "targets": compared.get("targets", {}),
                "sizes": {size.target: size.to_json() for size in self.sizes}}  # fmt: skip


@dataclass
class Family:
    """The profiles that extend the one diffed (``profile``, inside its repository)."""

    profile: str
    dependents: list[Dependent] = field(default_factory=list)
    skipped: str = ""  # why they were not compared

    @property
    def different(self) -> bool:
        return any(d.different for d in self.dependents)

    @property
    def findings(self) -> list[dict[str, str]]:
        return [finding for d in self.dependents for finding in d.findings]

    def to_json(self) -> dict[str, Any]:
        return {"profile": self.profile, "skipped": self.skipped or None,
                "dependents": [d.to_json() for d in self.dependents]}  # fmt: skip


def family(old_file: ProfileFile, new_file: ProfileFile) -> Family | None:
    """The profiles of the repository that extend the profile diffed, directly or not, each compared
    at OLD's point and at NEW's: its old version read from OLD's tree (an exported revision, read as raw
    objects like the parent) and so merged with the old parent, its new one from NEW's. Only when OLD and
    NEW are the same profile (the same path in the same repository); None when there is nothing to say."""
    from .discover import extending

    old, new = _tree(old_file), _tree(new_file)
    if old is None or new is None:
        return None
    shown = new.profile.as_posix()
    if (old.repository, old.profile) != (new.repository, new.profile):
        # Said only when someone extends NEW, looked for only in a git repository: two loose files in a
        # home folder are not worth a walk of all of it.
        if new.label == "" and not os.path.lexists(new.repository / ".git"):
            return None
        if not extending(new.root / new.profile, new.root):
            return None
        return Family(shown, skipped=f"OLD and NEW are different files; name one profile at two points (e.g. "
                                     f"HEAD:{shown} {shown}) to compare the profiles that extend it")  # fmt: skip
    if old.root == new.root:  # one file, twice: nothing changed, for it or for those that extend it
        return Family(shown)
    ways: dict[PurePosixPath, list[str]] = {}
    for tree in (new, old):  # NEW's way first: it is what the child does now
        for child, between in extending(tree.root / tree.profile, tree.root):
            relative = PurePosixPath(child.relative_to(tree.root).as_posix())
            ways.setdefault(relative, [PurePosixPath(p.relative_to(tree.root)).as_posix() if p.is_relative_to(tree.root)
                                       else p.stem for p in between])  # fmt: skip
    result = Family(shown)
    for relative in sorted(ways):
        before, after = _load(old, relative), _load(new, relative)
        dependent = Dependent(relative.as_posix(), ways[relative], before, after)
        if before.plan and after.plan:
            dependent.comparison = compare(before.plan, after.plan)
        if before.plan or after.plan:
            dependent.sizes = sizes(before.plan, after.plan)
        result.dependents.append(dependent)
    return result
