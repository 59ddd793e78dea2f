"""Which YAML files are profiles. A team's repository holds others beside them (conda's
environment.yml, CI workflows, compose files); `rebuild` over a folder and the pre-commit hooks
(which pass every changed ``profiles/*.yml``) leave those alone, and say so.

A profile is a mapping with no conda-environment keys and with a ``name`` or another profile key.
A broken or misspelt profile still counts as one, so that it fails loudly instead of being skipped.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .boundary import scan

# Top-level keys of a conda environment file (environment.yml, envs/ds.yml): never a profile's.
CONDA_FILE_KEYS = frozenset({"dependencies", "channels", "prefix", "variables"})


def another_kind(path: Path) -> str:
    """Why the file is, positively, something other than a profile ("" otherwise): a conda environment
    file. A file named on the command line (the hooks name every changed YAML file under profiles/)
    is skipped only for this; anything else that does not load is a broken profile, and says so."""
    from .errors import ProfileError
    from .yamlload import load_file

    try:
        data = load_file(str(path))
    except ProfileError:
        return ""
    return _conda_file(data)


def _conda_file(data: object) -> str:
    conda = sorted(CONDA_FILE_KEYS & set(data)) if isinstance(data, dict) else []
    return f"a conda environment file ({', '.join(conda)}), not a profile" if conda else ""


def not_a_profile(path: Path) -> str:
    """Why the YAML file at ``path``, found in a folder, is not a profile ("" when it is one)."""
    from .errors import ProfileError
    from .schema import profile_schema
    from .yamlload import load_file

    try:
        data = load_file(str(path))
    except ProfileError:  # our strict reading (e.g. a CI file's `on:` key is a boolean to YAML)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.stat().st_size < 1 << 20 else None
        except Exception:  # YAMLError, UnicodeDecodeError, RecursionError, a 5,000-digit integer...
            return ""  # broken YAML named like a profile: let validation report it
        if not isinstance(data, dict) or "name" in data:
            return ""
    if not isinstance(data, dict):
        return "not a mapping of profile keys: not a profile"
    if reason := _conda_file(data):
        return reason
    if "name" not in data and not set(data) & set(profile_schema()["properties"]):
        return "no top-level name nor any profile key: not a profile"
    return ""


def profile_files(folder: Path, pattern: str = "**/*.y*ml") -> tuple[list[Path], list[tuple[Path, str]]]:
    """The profiles under ``folder`` matching ``pattern``, and the other YAML files with the reason."""
    candidates = [p for p in scan(folder, pattern) if p.suffix in (".yaml", ".yml")]
    profiles, others = [], []
    for path in candidates:
        reason = not_a_profile(path)
        if reason:
            others.append((path, reason))
        else:
            profiles.append(path)
    return profiles, others


SKIPPED_FOLDERS = frozenset({"node_modules", "venv", "__pycache__"})  # and every hidden folder (.git, .venv)


def dependents(changed: list[Path]) -> list[tuple[Path, Path]]:
    """(profile, the changed file it extends) for each profile in the changed files' repositories that
    extends one of them, directly or not, and is not itself among them: checked in the same run, since
    a change to a parent lands in its children."""
    from .boundary import repository_root
    from .errors import ProfileError
    from .profile import parents

    wanted = {path.resolve() for path in changed}
    found: dict[Path, Path] = {}
    for root in sorted({repository_root(path) for path in changed}):
        for candidate in scan(root, "**/*.y*ml"):
            relative = candidate.relative_to(root).parts[:-1]
            if candidate.suffix not in (".yaml", ".yml"):
                continue
            if any(part.startswith(".") or part in SKIPPED_FOLDERS for part in relative):
                continue
            if candidate.resolve() in wanted or candidate.resolve() in found or not _may_extend(candidate):
                continue
            try:
                extended = parents(str(candidate))
            except ProfileError:
                continue  # a broken profile of its own: not what this change did
            hit = next((parent for parent in extended if parent in wanted), None)
            if hit is not None:
                found[candidate.resolve()] = hit
    return sorted(found.items())


def _may_extend(path: Path) -> bool:
    """Whether the file can name a parent at all: a profile without the word extends has none, and a
    repository's other YAML (CI files, data, fixtures) is then never parsed."""
    try:
        with path.open("rb") as handle:
            return b"extends" in handle.read(1 << 20)
    except OSError:
        return False


def extending(parent: Path, root: Path) -> list[tuple[Path, list[Path]]]:
    """(profile, the profiles between it and ``parent``: none when it names ``parent`` itself) for each
    profile under ``root`` (a repository, or a revision of it exported by ``diff``) that extends ``parent``,
    directly or not; the shortest way there. Read without validating, and forgiving: a profile whose own
    chain breaks elsewhere (a cycle, a name that no longer resolves) still counts when one of the parents
    it names reaches ``parent``, since the change may be what broke it.

    Only ``root`` and the built-in profiles are read: profiles come from ``scan`` (no link leaves
    ``root``), and each ``extends`` is resolved, links included, and held to the boundary before its file
    is opened. A profile elsewhere that extends ``parent`` by a path is never found, nor read."""
    from collections import deque

    from .boundary import Boundary
    from .errors import ProfileError
    from .profile import resolve
    from .yamlload import load_file

    top, wanted = root.resolve(), parent.resolve()
    boundary = Boundary.for_profile(wanted, top)
    named: dict[Path, list[Path]] = {}

    def parents_of(path: Path) -> list[Path]:
        if path not in named:
            named[path] = []
            try:
                data = load_file(str(path))
            except ProfileError:
                return []
            raw = data.get("extends") if isinstance(data, dict) else None
            references = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
            for reference in references:
                if not isinstance(reference, str) or not reference:
                    continue
                try:
                    found = resolve(reference, path.parent)
                except ProfileError:
                    continue
                if boundary.contains(found):
                    named[path].append(found)
        return named[path]

    def way(start: Path) -> list[Path] | None:
        queue, seen = deque([(start, list[Path]())]), {start}
        while queue:
            path, between = queue.popleft()
            for each in parents_of(path):
                if each == wanted:
                    return between
                if each not in seen:
                    seen.add(each)
                    queue.append((each, [*between, each]))
        return None

    found: dict[Path, tuple[Path, list[Path]]] = {}
    candidates, _ = profile_files(top)
    for candidate in candidates:
        if any(part.startswith(".") or part in SKIPPED_FOLDERS for part in candidate.relative_to(top).parts[:-1]):
            continue
        real = candidate.resolve()
        if real == wanted or real in found:
            continue
        between = way(real)
        if between is not None:
            found[real] = (candidate, between)
    return sorted(found.values())
