"""Locks on shared caches: one builder at a time, and nothing replaced under a reader.

Several runs of bootstrap share one cache (a team machine, a CI runner running jobs side by side).
A builder takes a cache entry's lock exclusively, says so when it has to wait (with a heartbeat),
checks again whether someone else built the entry meanwhile, builds aside and renames in. A machine
booting from a base image holds the same lock shared for its whole life, so a rebuild waits for it
instead of replacing the disk its overlay reads. The kernel drops the locks of a killed process.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import BackendError

HEARTBEAT = 30.0  # seconds between "still waiting" lines


def on_stderr(line: str) -> None:
    """Where a wait is said when the caller has no progress of its own: a wait is never silent."""
    print(f"bootstrap: {line}", file=sys.stderr)


def _open(path: Path) -> int:
    """The lock file, ours and private (0600: nobody else can open it to hold it), never through a link."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise BackendError(f"cannot open the lock {path}: {exc.strerror or exc}") from None


def _acquire(fd: int, mode: int, what: str, progress: Callable[[str], None], timeout: float) -> None:
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    holder = "building" if mode == fcntl.LOCK_SH else "building or using"  # only a builder keeps a reader out
    progress(f"waiting for another bootstrap {holder} {what}")
    start = last = time.monotonic()
    while True:
        time.sleep(0.2)
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            now = time.monotonic()
            if now - start > timeout:
                raise BackendError(f"gave up waiting for {what} after {now - start:.0f} s: another bootstrap "
                                   "holds it (its process is still running)") from None  # fmt: skip
            if now - last >= HEARTBEAT:
                progress(f"still waiting for {what} ({now - start:.0f} s)")
                last = now


@contextlib.contextmanager
def exclusive(path: Path, what: str, progress: Callable[[str], None] = on_stderr,
              timeout: float = 3600) -> Iterator[None]:  # fmt: skip
    """Hold ``path``'s lock alone: the one builder of ``what``."""
    fd = _open(path)
    try:
        _acquire(fd, fcntl.LOCK_EX, what, progress, timeout)
        yield
    finally:
        os.close(fd)


class Shared:
    """``path``'s lock held shared until ``release()`` (or the process ends): a reader of ``what``."""

    def __init__(self, path: Path, what: str, progress: Callable[[str], None] = on_stderr, timeout: float = 3600):
        self.fd: int | None = _open(path)
        try:
            _acquire(self.fd, fcntl.LOCK_SH, what, progress, timeout)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
