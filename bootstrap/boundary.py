"""What a profile may read on the rendering host: files inside its own repository, nothing else.

Profiles are often rendered in CI for pull requests from people a team only half trusts. A
``source:``, a conda ``file:``/``lock:`` or an ``extends`` path is resolved (links followed)
and must land on a regular file inside the repository of the profile the user named (its git
top level, or its folder when it is not in git) or among the built-in profiles. Anything else,
``/etc/passwd``, ``/proc/self/environ``, ``../../secrets`` or a link that leaves the
repository, is refused with a located error before a byte of it is read.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import Mark, Problem, ProfileError
from .paths import profiles_dir

# Pseudo-filesystems whose "regular files" are the host's live state, refused even inside a root of "/".
HOST_STATE = (Path("/proc"), Path("/sys"), Path("/dev"), Path("/run"))


def repository_root(profile: Path) -> Path:
    """The git top level above ``profile`` (a ``.git`` folder or file), else the profile's folder."""
    folder = profile.resolve().parent
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return folder


@dataclass(frozen=True)
class Boundary:
    """The folders a profile may read from: its repository and the built-in profiles."""

    roots: tuple[Path, ...]

    @classmethod
    def for_profile(cls, profile: Path, root: Path | None = None) -> Boundary:
        own = (root or repository_root(profile)).resolve()
        return cls((own, profiles_dir().resolve()))

    @property
    def repository(self) -> Path:
        return self.roots[0]

    def contains(self, path: Path) -> bool:
        return any(_under(path, root) for root in self.roots) and not any(_under(path, s) for s in HOST_STATE)

    def file(self, reference: str, beside: Path, what: str, mark: Mark | None) -> Path:
        """``reference`` resolved from ``beside``: a regular file inside the boundary, or a located error."""
        given = beside / reference
        try:
            real = given.resolve(strict=True)
            info = os.stat(real)
        except FileNotFoundError:
            raise ProfileError(
                Problem(
                    f"{what} {reference!r} not found ({given})",
                    mark,
                    "the path is relative to the profile that names it",
                )
            ) from None
        except (OSError, RuntimeError) as exc:  # a link loop, a permission problem
            raise ProfileError(Problem(f"{what} {reference!r} cannot be read: {exc}", mark)) from None
        if not self.contains(real):
            moved = f" (a link to {real})" if real != Path(os.path.abspath(given)) else ""
            raise ProfileError(
                Problem(
                    f"{what} {reference!r} is outside the profile's repository {self.repository}{moved}",
                    mark,
                    "a profile may only read files inside its own repository: copy the file there",
                )
            )
        if not stat.S_ISREG(info.st_mode):
            raise ProfileError(Problem(f"{what} {reference!r} is not a regular file", mark))
        return real


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
