"""Where the package's data lives (``templates/`` and ``profiles/``), and bootstrap's cache folder.

In a source checkout (or an editable install) they sit at the repository's top level. A
wheel carries them inside the package as ``bootstrap/_data/`` (see pyproject.toml), so a
plain ``pip install .`` works from any directory.
"""

from __future__ import annotations

import os
import stat
from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def data_dir(name: str) -> Path:
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"bootstrap data folder {name!r} is missing from the installation")


def templates_dir() -> Path:
    return data_dir("templates")


def profiles_dir() -> Path:
    return data_dir("profiles")


def cache_dir(name: str) -> Path:
    """``$XDG_CACHE_HOME/bootstrap/NAME`` (``~/.cache`` by default): base images, apt repositories,
    template bytecode, check findings. Not created here; ``private_cache`` before trusting it."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bootstrap" / name


def _nobody_else_above(folder: Path) -> None:
    """Every folder above ``folder`` belongs to root or to us, and whoever else may write in one cannot
    rename what is ours there (sticky, as /tmp): else our folder could be swapped for theirs after the
    check (the Jinja bytecode in it is executed)."""
    real = Path(os.path.realpath(folder))
    for each in real.parents:
        try:
            info = os.stat(each)
        except OSError:
            continue
        others_write = info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX
        if info.st_uid not in (0, os.geteuid()) or others_write:
            raise CacheNotPrivate(f"the cache folder {folder} lies in {each}, which someone else can change: set "
                                  "XDG_CACHE_HOME to a folder of your own")


class CacheNotPrivate(OSError):
    """The cache folder could be written by someone else: what is in it cannot be trusted."""


def private_cache(name: str) -> Path:
    """``cache_dir(name)``, made if missing (mode 0700), and trusted only when the bootstrap folder and
    NAME are real folders of ours that nobody else can write. What the cache holds is run or believed:
    template bytecode is executed, findings decide whether check passes, base images boot. With
    XDG_CACHE_HOME in a shared /tmp, another user would otherwise plant them first."""
    folder = cache_dir(name)
    return private_folder(folder, (folder.parent, folder))


def private_folder(folder: Path, ours: tuple[Path, ...] = ()) -> Path:
    """``folder`` (and the folders ``ours`` names, outermost first, ``folder`` last), made if missing
    (mode 0700), trusted only when each is a real folder of ours that nobody else can write and nobody
    else can change any folder above: what it holds boots (a --layer-cache DIR as much as the cache)."""
    ours = ours or (folder,)
    _nobody_else_above(ours[0])
    for each in ours:
        try:
            each.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = os.lstat(each)
        except OSError as exc:
            raise CacheNotPrivate(f"cannot make the cache folder {each}: {exc.strerror or exc}") from None
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
            raise CacheNotPrivate(f"the cache folder {each} is not a folder of yours that only you can write "
                                  "(owner, mode or a link): remove it, or set XDG_CACHE_HOME to a folder of your own")
    return folder
