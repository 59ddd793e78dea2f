"""What a profile may read on the rendering host: files inside its own repository, nothing else.

Profiles are often rendered in CI for pull requests from people a team only half trusts. A
``source:``, a conda ``file:``/``lock:`` or an ``extends`` path is resolved (links followed)
and must land on a regular file inside the repository of the profile the user named (its git
top level, or its folder when it is not in git) or among the built-in profiles. Anything else,
``/etc/passwd``, ``/proc/self/environ``, ``../../secrets`` or a link that leaves the
repository, is refused with a located error before a byte of it is read.

Everything else that names a file goes through here too: the profile named on the command line
(its repository is where the name sits, not where a link points), ``diff REV:path`` (the revision
and the path, see ``revision`` and ``revision_path``), names read back from files bootstrap wrote
(``image_name``: a name, never a path) and folder scans (``scan``: no links followed out).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import Mark, Problem, ProfileError, UsageError
from .paths import profiles_dir

# Pseudo-filesystems whose "regular files" are the host's live state, refused even inside a root of "/".
HOST_STATE = (Path("/proc"), Path("/sys"), Path("/dev"), Path("/run"))


# A git revision as a user types it (HEAD~1, origin/main, v1.2^, a sha, HEAD@{1}): never an option.
REVISION = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/@{}~^+-]{0,199}$")
# What bootstrap names its own images and channels' files: a name, never a path.
IMAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def repository_root(profile: Path) -> Path:
    """The git top level above ``profile`` (a ``.git`` folder or file of ours), else the profile's folder.
    Found from where the name sits, folder links included: a link (to the file, or to a folder on the
    way) does not carry its repository along. A ``.git`` someone else made (an empty one planted in a
    shared /tmp) makes no repository."""
    folder = Path(os.path.abspath(profile)).parent
    for candidate in (folder, *folder.parents):
        if _our_git(candidate / ".git"):
            return candidate.resolve()
    return folder.resolve()


def _our_git(path: Path) -> bool:
    try:
        info = os.lstat(path)
    except OSError:
        return False
    if info.st_uid != os.geteuid():
        return False
    if stat.S_ISDIR(info.st_mode):
        return (path / "HEAD").is_file()
    if not stat.S_ISREG(info.st_mode):
        return False
    with path.open("rb") as handle:  # a worktree's or submodule's: "gitdir: ..."; no more is read
        return handle.read(8) == b"gitdir: "


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

    def named_profile(self, given: Path, reference: str) -> Path:
        """The profile the user named, resolved: inside the boundary, or refused (a committed link
        out of the repository would otherwise make its target, and its folder, the repository)."""
        real = given.resolve()
        if not self.contains(real):
            raise ProfileError(
                Problem(
                    f"profile {reference!r} is a link to {real}, outside its repository {self.repository}",
                    Mark(reference, 1, 1),
                    "name the file itself, inside its repository",
                )
            )
        return real

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


def read_text(path: Path, source: str) -> str:
    """A file's text for a check or a feature: UTF-8, or a located error at the first bad byte."""
    from .yamlload import utf8

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ProfileError(Problem(f"cannot read {source}: {exc.strerror or exc}", Mark(source, 1, 1))) from None
    return utf8(data, source)


def scan(folder: Path, pattern: str) -> Iterator[Path]:
    """The regular files under ``folder`` matching ``pattern``, none reached through a link that leaves it."""
    top = folder.resolve()
    for path in sorted(folder.glob(pattern)):
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if _under(real, top) and real.is_file():
            yield path


def revision(text: str, reference: str) -> str:
    """A git revision typed by a user: refused when git could read it as an option or a range."""
    if not REVISION.match(text) or ".." in text:
        raise UsageError(
            f"{reference}: {text!r} is not a revision (a branch, a tag, a commit, HEAD~1...)"
        )
    return text


def revision_path(text: str, reference: str) -> PurePosixPath:
    """The path of ``REV:path``: relative, inside the tree (no absolute path, no '..')."""
    path = PurePosixPath(text)
    if not text or path.is_absolute() or ".." in path.parts:
        raise UsageError(f"{reference}: {text!r} must be a path inside the repository (no leading '/', no '..')")
    return path


def image_name(text: object, source: str) -> str:
    """A name bootstrap gave an image (read back from a manifest): refused when it is not one."""
    if not isinstance(text, str) or not IMAGE_NAME.match(text):
        raise ProfileError(Problem(f"{text!r} is not an image name bootstrap writes", Mark(source, 1, 1),
                                   "the manifest was changed by hand or by someone else: remove it"))  # fmt: skip
    return text
