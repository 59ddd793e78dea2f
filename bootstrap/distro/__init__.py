"""Distros: the package manager and the OS facts features need, one module per distro, found by this registry.

A distro module defines ``DISTRO``, a :class:`Distro`: its name (a profile's ``distro:``), the family
whose package names it uses (Debian and Ubuntu share the ``debian`` family's), its package manager
(the runner's step library for it and the shell commands features call) and where services go.

Features never spell an installer or a package name for one distro: they declare each package with
its name per family (``Package(debian="nfs-common")``) and render ``distro.install`` before the names
``distro.name()`` gives; a package with no name in the profile's family is refused (exit 2), never
skipped. Adding a distro = one module here + its step library in ``templates/distro/`` (and a
``Package`` keyword per family in the features that should run on it).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ..errors import NotOnDistro

DEFAULT = "debian"  # the distro of a profile that names none (every base image bootstrap knows is Debian's)
NATIVE = "*"  # a name a profile gave for its own distro (packages:), whatever the family


@dataclass(frozen=True, order=True, init=False)
class Package:
    """One package as each family of distros names it."""

    names: tuple[tuple[str, str], ...] = field(default=())  # (family, name), sorted

    def __init__(self, **names: str) -> None:
        object.__setattr__(self, "names", tuple(sorted(names.items())))

    @classmethod
    def native(cls, name: str) -> Package:
        """A package the profile named for its own distro (its ``packages:`` list)."""
        return cls(**{NATIVE: name})

    def name(self, family: str) -> str | None:
        names = dict(self.names)
        return names.get(family, names.get(NATIVE))

    def __str__(self) -> str:
        return " or ".join(f"{name} ({family})" if family != NATIVE else name for family, name in self.names)


@dataclass(frozen=True, eq=False)
class Repository:
    """A package repository and its signing key, with its source as each family writes it (for apt,
    what follows ``deb [signed-by=KEY]``: our own shell text, which may expand the step's variables)."""

    name: str  # its sources file's name
    key_url: str
    keyring: str  # the key's file name, without folder and extension
    sources: Mapping[str, str] = field(default_factory=dict)  # family -> source


@dataclass(frozen=True)
class PackageManager:
    """How a family installs packages: shell commands of the runner's step library for it (each takes
    the words that follow it) and the template of that library."""

    name: str  # as users know it: "apt package" in step descriptions
    library: str  # template of the runner's lib.sh for it: extends runner/lib.sh.j2, fills its blocks
    install: str  # installs the packages named after it, skipping (without the network) those installed
    install_file: str  # installs the downloaded package files named after it, resolving no dependencies
    # from repositories (a repository's keyring package, before that repository is added)
    installed: str  # true when the package named after it is installed (NAME=VERSION: at that version)
    hold: str  # keeps the packages named after it at their version through upgrades
    sources_changed: str  # tells the manager a repository was added (its next install refreshes)
    repository: str = ""  # template adding a Repository (with ``repository`` and ``source``); "": cannot
    seal: str = ""  # template of its part of the image's seal (runner/seal.sh.j2, no lib.sh): its caches
    # template of a shell function for the image's manifest (runner/manifest.sh.j2, no lib.sh): list_installed
    # ROOT prints NAME<TAB>VERSION a line for each package installed in the system at ROOT; "": none listed
    list_installed: str = ""


@dataclass(frozen=True)
class Distro:
    name: str  # the profile's ``distro:`` value
    family: str  # whose package names it uses (Package's keywords)
    description: str  # for the schema and docs
    manager: PackageManager
    unit_dir: str = "/etc/systemd/system"  # where bootstrap writes systemd units (overrides the packages')

    # What templates print: trusted shell of ours (``{{ distro.install | raw }} {{ name | q }}``).
    @property
    def install(self) -> str:
        return self.manager.install

    @property
    def installed(self) -> str:
        return self.manager.installed

    @property
    def install_file(self) -> str:
        return self.manager.install_file

    @property
    def hold(self) -> str:
        return self.manager.hold

    @property
    def sources_changed(self) -> str:
        return self.manager.sources_changed

    def name_of(self, package: Package) -> str:
        """The package's name on this distro; NotOnDistro when its family has none."""
        name = package.name(self.family)
        if name is None:
            raise NotOnDistro(f"package {package} has no name on distro {self.name} (the {self.family} family)")
        return name

    def names(self, packages: Iterable[Package]) -> list[str]:
        return [self.name_of(package) for package in packages]

    def add_repository(self, repository: Repository) -> str:
        """Shell adding ``repository`` and its key (then ``sources_changed``), one command a line and
        no final newline, for ``| indent``; NotOnDistro when this family has no source for it or its
        package manager adds none."""
        from ..templating import render

        source = repository.sources.get(self.family)
        if source is None or not self.manager.repository:
            raise NotOnDistro(f"repository {repository.name} has no source for distro {self.name} "
                              f"(the {self.family} family)")  # fmt: skip
        return render(self.manager.repository, repository=repository, source=source, distro=self).rstrip("\n")


@cache
def all_distros() -> dict[str, Distro]:
    """Every distro module's ``DISTRO``, by name (a module without one is a helper, as in targets/)."""
    found: dict[str, Distro] = {}
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            distro = getattr(importlib.import_module(f"{__name__}.{info.name}"), "DISTRO", None)
            if isinstance(distro, Distro):
                found[distro.name] = distro
    return dict(sorted(found.items()))


def distro_of(profile: Any) -> Distro:
    """The distro a (validated) profile names, or the default."""
    return all_distros()[(profile or {}).get("distro", DEFAULT)]


def schema() -> dict[str, Any]:
    """The profile's ``distro:`` key (no schema default: a profile that names none keeps its data as written)."""
    distros = all_distros()
    return {
        "enum": list(distros),
        "description": f"The machine's OS, which says how packages install and what they are called (default "
        f"{DEFAULT}): " + "; ".join(f"{name}: {d.description}" for name, d in distros.items()) + ".",
        "examples": [DEFAULT],
    }
