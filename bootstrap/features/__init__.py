"""Features: one module per capability, found by this registry.

A feature module defines:

* ``KEY``: the profile key that activates it (a feature is active only when its key is present);
* ``AFTER``: the features whose steps must go before its own, whether or not they are active (a
  profile's ``before:``/``after:`` cannot reverse them: see bootstrap/ordering.py);
* optionally ``DEFAULT_AFTER``: features its steps go after unless a step states otherwise (``"*"``: every
  feature that neither says ``"*"`` itself nor comes after this one); ties go by ``KEY``;
* optionally ``FREE_ORDER = True``: its steps (commands, services) may be reordered among themselves;
* optionally ``NAMED_STEPS``: the step ids its key means in a profile's ``before:``/``after:`` (all
  of its steps when absent);
* ``SCHEMA``: the JSON Schema fragment for the value under ``KEY``;
* ``steps(config, context) -> list[Step]``: pure, no I/O except reading files the profile names;
* optionally ``cloud_config(config) -> dict``: keys for the ``#cloud-config`` part, where one of
  cloud-init's own modules does the job well;
* optionally ``check(config, context) -> list[Problem]``: semantic checks beyond the schema;
* optionally ``needs(config) -> Needs``: what its steps reach outside the machine (packages from the
  distro's archive, other downloads, a cloud's own services), so a local test says before booting what
  it cannot give; and ``bake_needs(config)``, what a builder's run needs besides (nvidia installs there
  without a GPU).

Steps install packages through ``context.distro`` (bootstrap/distro/): ``distro.install`` and the names
``distro.name_of(Package(debian=...))`` gives, so a package with no name in the profile's distro family
is refused, not skipped. Adding a feature = one module here + one folder in ``templates/features/`` + an
example.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from ..boundary import Boundary
from ..distro import Distro, Package, distro_of
from ..errors import Problem


@dataclass(frozen=True)
class Context:
    """What a feature may know besides its own config."""

    profile_name: str
    profile: Any = None  # the whole merged profile, for checks that span features
    boundary: Boundary | None = None  # where files the profile names may be read from
    folder: Path | None = None  # the named profile's folder: where a --set path resolves, as in the profile

    @property
    def distro(self) -> Distro:
        """The profile's distro: how its steps install packages, and their names there."""
        return distro_of(self.profile)


@cache
def all_features() -> tuple[ModuleType, ...]:
    modules = [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in pkgutil.iter_modules(__path__)
        if not info.name.startswith("_")
    ]
    return tuple(in_dependency_order(modules))


def in_dependency_order(modules: list[ModuleType]) -> list[ModuleType]:
    """Features sorted so that each comes after those in its ``AFTER`` and ``DEFAULT_AFTER`` (Kahn's
    algorithm; among features free to go, the first by ``KEY``, so the order is stable as features
    are added)."""
    by_key = {m.KEY: m for m in modules}
    named: dict[str, set[str]] = {}
    for module in modules:
        named[module.KEY] = (set(module.AFTER) | set(getattr(module, "DEFAULT_AFTER", ()))) - {"*"}
        unknown = named[module.KEY] - by_key.keys()
        if unknown or "*" in module.AFTER:
            raise RuntimeError(f"feature {module.KEY}: AFTER names no feature {sorted(unknown) or ['*']}")
    later = _transitive({key: {k for k, wanted in named.items() if key in wanted} for key in named})
    anywhere = {m.KEY for m in modules if "*" not in getattr(m, "DEFAULT_AFTER", ())}
    needs = {
        key: wanted | (anywhere - {key} - later[key] if "*" in getattr(by_key[key], "DEFAULT_AFTER", ()) else set())
        for key, wanted in named.items()
    }
    ordered: list[ModuleType] = []
    while needs:
        ready = sorted(key for key, wanted in needs.items() if not wanted)
        if not ready:
            raise RuntimeError(f"features wait on each other in a cycle: {sorted(needs)}")
        ordered.append(by_key[ready[0]])
        del needs[ready[0]]
        for wanted in needs.values():
            wanted.discard(ready[0])
    return ordered


def _transitive(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Every node reachable from each node."""
    reach: dict[str, set[str]] = {}
    for start in graph:
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo += graph.get(node, ())
        reach[start] = seen
    return reach


@dataclass(frozen=True)
class Needs:
    """What a profile's steps reach outside the machine when they run."""

    packages: tuple[Package, ...] = ()  # installed from the distro's own archive (its mirror)
    internet: tuple[str, ...] = ()  # other downloads, each "feature: what, from where"
    cloud: tuple[str, ...] = ()  # what only a cloud instance has (its metadata service, its APIs, its disks)

    def __or__(self, other: Needs) -> Needs:
        pairs = ((self.packages, other.packages), (self.internet, other.internet), (self.cloud, other.cloud))
        return Needs(*(tuple(sorted({*mine, *theirs})) for mine, theirs in pairs))  # type: ignore[arg-type]

    def package_names(self, distro: Distro) -> tuple[str, ...]:
        """The packages by their names on ``distro`` (NotOnDistro for one it has no name for)."""
        return tuple(sorted(set(distro.names(self.packages))))


AWS_CLI = Package(debian="awscli")  # for the steps that include templates/runner/aws_cli.sh.j2 (secrets, conda)


def aws_cli(context: Context) -> dict[str, Any]:
    """What templates/runner/aws_cli.sh.j2 is rendered with, for the profile's distro."""
    return {"distro": context.distro, "awscli": context.distro.name_of(AWS_CLI)}


def needs(profile: dict[str, Any], bake: bool = False) -> Needs:
    """Everything the active features of a (loaded, defaults filled) profile reach outside the machine;
    ``bake``: also what a builder's run of them needs besides (``bake_needs``)."""
    total = Needs()
    for feature, config in active(profile):
        if hasattr(feature, "needs"):
            total |= feature.needs(config)
        if bake and hasattr(feature, "bake_needs"):
            total |= feature.bake_needs(config)
    return total


def active(profile: dict[str, Any]) -> list[tuple[ModuleType, Any]]:
    return [(feature, profile[feature.KEY]) for feature in all_features() if feature.KEY in profile]


def source_dir(config: Any, key: str, folder: Path | None = None) -> Path:
    """The folder of the profile file that set ``config[key]``: relative paths resolve there; a value
    given with --set resolves in the named profile's ``folder``, as the same key in it would."""
    mark = getattr(config, "value_marks", {}).get(key)
    if mark is not None and mark.source.startswith("--set ") and folder is not None:
        return folder
    if mark is None or mark.source.startswith(("<", "--set ")):
        return Path.cwd()
    return Path(mark.source).resolve().parent


def source_file(config: Any, key: str, context: Context, what: str) -> Path:
    """The file ``config[key]`` names, checked against the profile's boundary (a located
    ProfileError when it is missing, not a regular file, or outside the repository)."""
    if context.boundary is None:
        raise ValueError("a feature read a file without a boundary")  # a bug: contexts carry one
    mark = getattr(config, "value_marks", {}).get(key) or getattr(config, "mark", None)
    return context.boundary.file(config[key], source_dir(config, key, context.folder), what, mark)


def source_problems(config: Any, key: str, context: Context, what: str, limit: int, hint: str) -> list[Problem]:
    """What is wrong with the file ``config[key]`` names: outside the boundary, missing, not a
    regular file, or over ``limit`` bytes (too big to travel in user data; ``hint`` says what instead)."""
    from ..errors import ProfileError

    try:
        path = source_file(config, key, context, what)
    except ProfileError as exc:
        return exc.problems
    if path.stat().st_size > limit:
        return [
            problem(config, key, f"{what} {config[key]!r} is over {limit // 1024} KiB: too big for user data", hint)
        ]
    return []


def named(singular: str, plural: str, names: list[str], limit: int = 4) -> str:
    """'secret jupyter-token', 'environments ds, torch', 'units a, b, c, d and 2 more': for step
    descriptions a reader of `explain` or of the rendered script recognises."""
    shown = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
    return f"{singular if len(names) == 1 else plural} {shown}"


def problem(config: Any, key: str, message: str, hint: str | None = None) -> Problem:
    mark = getattr(config, "value_marks", {}).get(key) or getattr(config, "mark", None)
    return Problem(message, mark, hint)


def describe(properties: dict[str, Any], docs: dict[str, tuple[str, Any]]) -> None:
    """Give schema properties a description and an example (kept beside the feature's schema;
    editors show them as you type, and docs/profiles.md is generated from them)."""
    for name, (description, example) in docs.items():
        node = properties[name]  # a misspelt name fails at import, in every test
        node.setdefault("description", description)
        node.setdefault("examples", [example])
