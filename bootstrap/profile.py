"""Load a profile: read, resolve ``extends``, merge, apply ``--set`` overrides, validate.

The result is a :class:`Profile` whose data still knows, for every value, the file, line and
column it came from, so that any later error can point there.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import schema
from .boundary import Boundary
from .errors import Mark, Problem, ProfileError, UsageError
from .merge import merge
from .paths import profiles_dir
from .yamlload import MDict, MList, load_file, load_text, mark_at

PROFILE_SUFFIXES = (".yaml", ".yml")
NOT_INHERITED = ("name", "description", "abstract")  # what a profile says of itself only
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class Profile:
    name: str
    path: str  # the file the user named (display form)
    data: MDict
    chain: list[str] = field(default_factory=list)  # every file that contributed, parents first
    boundary: Boundary | None = None  # where the files it names may be read from
    folder: Path | None = None  # the named profile's folder (a --set path resolves there)

    @property
    def abstract(self) -> bool:
        return bool(self.data.get("abstract"))

    @property
    def description(self) -> str:
        return str(self.data.get("description", ""))


def builtin_profiles() -> dict[str, Path]:
    return {p.stem: p for p in sorted(profiles_dir().glob("*.yaml"))}


def display_path(path: Path) -> str:
    """Paths under the working directory read best relative; anything else absolute."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def resolve(reference: str, beside: Path | None = None, mark: Mark | None = None, *, follow: bool = True) -> Path:
    """Find a profile by path, by name beside ``beside``, or by built-in name (``follow``: links
    resolved; else the absolute path as named, for the boundary to judge)."""
    candidates: list[Path] = []
    looks_like_path = "/" in reference or reference.endswith(PROFILE_SUFFIXES)
    base = beside if beside is not None else Path.cwd()
    if looks_like_path:
        candidates.append(base / reference)
    else:
        candidates += [base / f"{reference}{suffix}" for suffix in PROFILE_SUFFIXES]
        candidates.append(profiles_dir() / f"{reference}.yaml")
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve() if follow else Path(os.path.abspath(candidate))
    known = sorted(set(builtin_profiles()) | ({p.stem for p in base.glob("[!.]*.y*ml")} if base.is_dir() else set()))
    close = schema.suggest(Path(reference).stem, known)
    hint = f"did you mean {close!r}?" if close else ("known profiles: " + ", ".join(known) if known else None)
    raise ProfileError(
        Problem(f"profile {reference!r} not found (looked in {', '.join(map(display_path, candidates))})", mark, hint)
    )


def _extends_list(data: MDict) -> list[tuple[str, Mark | None]]:
    raw = data.get("extends")
    if raw is None:
        return []
    if isinstance(raw, str):
        return [(raw, mark_at(data, ["extends"]))]
    if isinstance(raw, list) and all(isinstance(item, str) and item for item in raw):
        return [(item, mark_at(data, ["extends", i])) for i, item in enumerate(raw)]
    raise ProfileError(Problem("extends: expected a list of profile names or paths", mark_at(data, ["extends"])))


def _linearize(
    path: Path, boundary: Boundary, order: dict[Path, MDict], stack: tuple[Path, ...] = (), via: Mark | None = None
) -> None:
    """Every profile of the ``extends`` graph below ``path``, parents first, each file once.

    Depth first, parents in the order named, then the profile itself: for a tree this is the
    documented merge order, and a parent shared by two branches (a diamond) is loaded and merged
    once, so deep diamonds stay linear instead of doubling at every level."""
    display = display_path(path)
    if path in stack:
        cycle = " -> ".join(display_path(p) for p in (*stack[stack.index(path) :], path))
        raise ProfileError(
            Problem(f"extends cycle: {cycle}", via or Mark(display, 1, 1), "remove one of these extends entries")
        )
    if path in order:
        return
    data = load_file(str(path), display)
    if not isinstance(data, MDict):
        raise ProfileError(
            Problem(
                f"a profile must be a YAML mapping, got a {schema.type_name(data)}",
                getattr(data, "mark", None) or Mark(display, 1, 1),
            )
        )
    for reference, mark in _extends_list(data):
        parent = resolve(reference, path.parent, mark)
        if not boundary.contains(parent):
            raise ProfileError(
                Problem(
                    f"extends {reference!r}: {parent} is outside the profile's repository {boundary.repository}",
                    mark,
                    "extend profiles inside the same repository, or built-in ones by name"
                    + ("" if (boundary.repository / ".git").exists() else
                       f"; {boundary.repository} is in no git repository, so the profile's own folder is its "
                       "repository: `git init` in a folder above both makes that folder the repository"),
                )
            )
        _linearize(parent, boundary, order, (*stack, path), mark)
    order[path] = data


def parents(reference: str) -> list[Path]:
    """Every file ``reference`` extends, directly or not (resolved), read without validating: a
    profile that a change to a parent breaks still names its parents."""
    path = resolve(reference)
    order: dict[Path, MDict] = {}
    _linearize(path, Boundary.for_profile(path), order)
    return [each for each in order if each != path]


def _load_chain(path: Path, boundary: Boundary, chain: list[str]) -> MDict:
    order: dict[Path, MDict] = {}
    _linearize(path, boundary, order)
    merged: Any = MDict(mark=order[path].mark)
    for each, data in order.items():
        own = each == path
        merged = merge(
            merged,
            _without(data, "extends") if own else _without(data, "extends", *NOT_INHERITED),
            schema.profile_schema(),
        )
        chain.append(display_path(each))
    return merged


def _without(data: MDict, *keys: str) -> MDict:
    result = MDict(mark=data.mark)
    for key, value in data.items():
        if key not in keys:
            result[key] = value
            if key in data.key_marks:
                result.key_marks[key] = data.key_marks[key]
            if key in data.value_marks:
                result.value_marks[key] = data.value_marks[key]
    return result


def apply_override(data: MDict, assignment: str) -> None:
    """Apply one ``--set dotted.path=value`` (the value is read as YAML) in place."""
    source = f"--set {assignment}"
    path_text, sep, value_text = assignment.partition("=")
    if not sep or not path_text:
        raise UsageError(f"--set {assignment!r}: expected PATH=VALUE, e.g. --set timezone=Europe/Paris")
    steps: list[Any] = path_text.split(".")
    if any(not step for step in steps):
        raise UsageError(f"--set {assignment!r}: empty segment in path {path_text!r}")
    value = load_text(value_text, source) if value_text.strip() else ""
    value_mark = Mark(source, 1, len("--set ") + len(path_text) + 2)
    key_mark = Mark(source, 1, len("--set ") + 1)
    node: Any = data
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        if isinstance(node, list):
            if not step.isdigit() or int(step) >= len(node):
                raise UsageError(
                    f"--set {assignment!r}: {'.'.join(steps[:i]) or 'value'} is a list of "
                    f"{len(node)} items; {step!r} is not an index in it"
                )
            index = int(step)
            if last:
                node[index] = value
                if isinstance(node, MList):
                    node.item_marks[index] = value_mark
            node = node[index]
            continue
        if not isinstance(node, dict):
            raise UsageError(
                f"--set {assignment!r}: {'.'.join(steps[:i])} is a {type(node).__name__}, "
                "not a mapping; cannot set a key inside it"
            )
        if last and value is None:  # as a child profile's null: the key is unset, its default applies
            node.pop(step, None)
            return
        if last:
            node[step] = value
        elif step not in node or node[step] is None:
            node[step] = MDict(mark=value_mark)
        if isinstance(node, MDict):
            node.key_marks[step] = key_mark
            node.value_marks[step] = value_mark
        node = node[step]


def _nul_problems(data: Any, path: list[Any], root: MDict) -> list[Problem]:
    """NUL cannot travel through a shell script or a file name, nor a lone surrogate (YAML's
    "\\ud800") through UTF-8: refuse them at validation."""
    problems: list[Problem] = []
    if isinstance(data, str):
        where = ".".join(map(str, path))
        if "\0" in data:
            problems.append(Problem(f"{where}: NUL bytes cannot be represented on the machine", mark_at(root, path)))
        if LONE_SURROGATE.search(data):
            problems.append(Problem(f"{where}: a lone UTF-16 surrogate cannot be written as UTF-8", mark_at(root, path),
                                    "write the character itself, or its \\U escape"))  # fmt: skip
    elif isinstance(data, dict):
        for key, value in data.items():
            problems += _nul_problems(value, [*path, key], root)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            problems += _nul_problems(value, [*path, index], root)
    return problems


def load_profile(reference: str, overrides: list[str] | tuple[str, ...] = (), *, root: Path | None = None) -> Profile:
    """Load, merge, override and validate a profile, and fill in the schema's defaults. Raises
    ProfileError listing every problem.

    ``root``: the repository the profile may read from (default: its git top level, or its folder)."""
    named = resolve(reference, follow=False)
    boundary = Boundary.for_profile(named, root)
    path = boundary.named_profile(named, reference)
    chain: list[str] = []
    data = _load_chain(path, boundary, chain)
    for assignment in overrides:
        apply_override(data, assignment)
    problems = schema.validate(data) + _nul_problems(data, [], data)
    if not problems:
        from .features import Context, active

        schema.apply_defaults(data)  # once, here: checks and features read the schema's defaults
        context = Context(profile_name=data["name"], profile=data, boundary=boundary, folder=path.parent)
        for feature, config in active(data):
            check = getattr(feature, "check", None)
            if check is not None:
                problems += check(config, context)
    if problems:
        raise ProfileError(_sorted(problems))
    return Profile(name=data["name"], path=display_path(path), data=data, chain=chain, boundary=boundary,
                   folder=path.parent)  # fmt: skip


def _sorted(problems: list[Problem]) -> list[Problem]:
    def key(p: Problem) -> tuple[str, int, int]:
        return (p.mark.source, p.mark.line, p.mark.column) if p.mark else ("", 0, 0)

    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=key)
