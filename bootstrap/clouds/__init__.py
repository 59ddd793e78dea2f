"""Clouds: one folder per cloud, found by this registry (as features are).

A cloud's package (``clouds/NAME/__init__.py``) defines ``CLOUD``, a :class:`Cloud`: its name, the
options its backend takes (each with the commands it applies to: the CLI builds its argument groups
from them), and ``build``, which makes its backend from those options' values and a :class:`Context`.
Beside it, in the same folder: the backend (``backend.py``, the only module that imports the cloud's
SDK), its vocabulary (how tags are spelt there, the names it gives), its sharing principals, its export
fragments (``exports.py``: Packer, Terraform) and its local hand-off (``handoff.py``: how a local guest
receives the user data as on that cloud, read by that cloud's client; ``metadata.py``: a metadata server
stand-in), where it has them. ``local`` holds the hand-offs of no one cloud (a NoCloud seed, by hand).

The registry imports only the packages' ``__init__`` modules: declarations, no SDK (`render` stays light).
Adding a cloud = one folder here; nothing else in the package changes (tests/test_extending.py).
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ..errors import UsageError

BUILDS = frozenset({"bake", "rebuild"})  # commands that start machines
LOOKS = frozenset({"reap", "images"})  # commands that find bootstrap's machines and images by their tags
EVERY = BUILDS | LOOKS


@dataclass(frozen=True)
class Option:
    """One option of a backend. ``commands``: where it is used and listed; ``quiet``: commands that accept
    it unlisted and unused (one set of cloud arguments serves every command of a job). ``refusal``: given
    to another cloud's backend, it is an error, worded so (formatted with ``backend`` and that cloud's
    ``hint``); otherwise another cloud's option is ignored."""

    flags: tuple[str, ...]
    help: str | Callable[[str], str]  # the text, or command -> text
    commands: frozenset[str] = EVERY
    quiet: frozenset[str] = frozenset()
    arguments: Mapping[str, Any] = field(default_factory=dict)  # argparse's: action, default, metavar, choices
    dest: str = ""
    refusal: str = ""

    @property
    def name(self) -> str:
        """The key of its value: the argparse dest."""
        return self.dest or next(f for f in self.flags if f.startswith("--")).removeprefix("--").replace("-", "_")

    @property
    def default(self) -> Any:
        if "default" in self.arguments:
            return self.arguments["default"]
        return {"append": [], "store_true": False}.get(self.arguments.get("action", ""))

    def help_for(self, command: str) -> str:
        return self.help(command) if callable(self.help) else self.help


def building_options(*options: Option) -> tuple[Option, ...]:
    """Options that shape the machine a bake starts: listed by bake and rebuild, taken quietly by the rest."""
    return tuple(Option(o.flags, o.help, BUILDS, LOOKS, o.arguments, o.dest, o.refusal) for o in options)


@dataclass(frozen=True)
class Context:
    """What a backend is built for, besides its options' values."""

    command: str  # bake, rebuild, reap, images
    progress: Callable[[str], None] = print
    setup: Any = None  # a local guest's setup (network, a local apt repository)


Values = Mapping[str, Any]  # option name -> value: the typed options a backend is built from


@dataclass(frozen=True)
class Cloud:
    name: str
    options: tuple[Option, ...]
    build: Callable[[Values, Context], Any]  # -> bake.backend.Backend
    summary: str = ""  # for -b's help: what it bakes
    principals: Mapping[str, str] = field(default_factory=dict)  # sharing: kind -> pattern (no anchors)
    principals_help: str = ""  # how a person writes them, for --share's help and its error
    hint: str = ""  # said after a refusal of another cloud's option (how this cloud does the same)

    def values(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """This cloud's option values out of ``given`` (a command's), its defaults where one is absent."""
        return {o.name: given.get(o.name, o.default) for o in self.options}


@cache
def all_clouds() -> dict[str, Cloud]:
    """Every cloud, local first, then by name."""
    found: list[Cloud] = []
    for info in pkgutil.iter_modules(__path__):
        if info.ispkg and not info.name.startswith("_"):
            found.append(importlib.import_module(f"{__name__}.{info.name}").CLOUD)
    found.sort(key=lambda c: (c.name != "local", c.name))
    return {c.name: c for c in found}


def cloud(name: str) -> Cloud:
    clouds = all_clouds()
    if name not in clouds:
        raise UsageError(f"no backend {name!r}: {', '.join(clouds)}")
    return clouds[name]


def refuse_foreign(name: str, given: Mapping[str, Any]) -> None:
    """Another cloud's option that is an error with this backend (say which backend takes it)."""
    chosen = cloud(name)
    mine = {o.name for o in chosen.options}
    for other in all_clouds().values():
        for option in other.options:
            if option.refusal and option.name not in mine and given.get(option.name, option.default) != option.default:
                flag = next(f for f in option.flags if f.startswith("--"))
                why = option.refusal.format(backend=name, hint=chosen.hint)
                raise UsageError(f"{flag} is for -b {other.name}{why}")


def make_backend(name: str, given: Mapping[str, Any], context: Context) -> Any:
    """The backend ``name`` built from a command's option values (extra keys are ignored)."""
    refuse_foreign(name, given)
    chosen = cloud(name)
    return chosen.build(chosen.values(given), context)


def modules_of(leaf: str) -> list[Any]:
    """The clouds' modules named ``leaf`` (clouds/NAME/LEAF.py), in the registry's order."""
    found = []
    for name in all_clouds():
        if importlib.util.find_spec(f"{__name__}.{name}.{leaf}") is not None:
            found.append(importlib.import_module(f"{__name__}.{name}.{leaf}"))
    return found


def exports_of() -> list[Any]:
    """The clouds' export fragment modules (clouds/NAME/exports.py), in the registry's order."""
    return modules_of("exports")


def handoffs_of() -> list[Any]:
    """The clouds' local hand-offs (clouds/NAME/handoff.py: ``HANDOFFS``, localvm/handoff.py's subclasses),
    in the registry's order: each proves a target of `bootstrap test` on a local machine."""
    return [handoff for module in modules_of("handoff") for handoff in module.HANDOFFS]
