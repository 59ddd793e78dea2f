"""Where the package's data lives (``templates/`` and ``profiles/``), and bootstrap's cache folder.

In a source checkout (or an editable install) they sit at the repository's top level. A
wheel carries them inside the package as ``bootstrap/_data/`` (see pyproject.toml), so a
plain ``pip install .`` works from any directory.
"""

from __future__ import annotations

import os
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
    template bytecode, check findings. Not created here."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bootstrap" / name
