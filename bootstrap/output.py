"""Writing what bootstrap produces: atomically, never through a link, private by default.

User data may hold tokens a team did not mean to commit, and a half-written script can still pass
``bash -n``. So a file is written to a temporary name beside it, flushed to disk, given its mode,
and renamed over the target in one step: readers see the old file or the whole new one. A link at
the target is refused rather than followed (in a shared workspace it may point anywhere); a
device or pipe (``-o /dev/null``) is written in place, never replaced.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import InputError

DEFAULT_MODE = 0o600


class OutputError(InputError):
    """The output path cannot be written (a folder, a link, a full disk). CLI exit 2."""


def parse_mode(text: str) -> int:
    """An octal mode such as 0644 (from --mode)."""
    try:
        mode = int(text, 8)
    except ValueError:
        raise OutputError(f"--mode {text!r}: expected an octal mode such as 0600 or 0644") from None
    if not 0 <= mode <= 0o777:
        raise OutputError(f"--mode {text!r}: expected permission bits between 0000 and 0777")
    return mode


def write_file(path: Path, data: bytes, mode: int = DEFAULT_MODE) -> None:
    """``data`` into ``path`` atomically with ``mode``; its folder is created when missing."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    if info is not None and stat.S_ISLNK(info.st_mode):
        raise OutputError(
            f"{path} is a symbolic link: refusing to write through it (remove it, or name the file itself)"
        )
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise OutputError(f"{path} is a directory: name a file to write, e.g. {path / 'user-data'}")
    if info is not None and (stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode)):
        _write_in_place(path, data)  # /dev/null, a pipe: written as `>` would, never replaced
        return
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise OutputError(f"{path} is not a regular file: refusing to replace it")
    folder = path.parent
    temporary = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fchmod(out.fileno(), mode)
            os.fsync(out.fileno())
        os.replace(temporary, path)
        temporary = None
        _sync_folder(folder)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)


def _write_in_place(path: Path, data: bytes) -> None:
    try:
        handle = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def _sync_folder(folder: Path) -> None:
    try:
        handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass  # some filesystems refuse fsync on folders; the rename itself is still atomic
    finally:
        os.close(handle)
