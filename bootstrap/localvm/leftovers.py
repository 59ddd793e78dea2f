"""What a killed bootstrap would leave on this host, and how it does not.

SIGTERM and SIGINT unwind through every ``with`` (see interrupts.py). SIGKILL cannot be caught, so:
QEMU is started tied to the thread that started it (the kernel kills it when that thread dies), and
scratch folders carry their owner's pid and start time, so the next run removes those whose owner
is gone. A kept machine's folder drops its owner file: it is the user's now, never swept.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

OWNER_FILE = ".bootstrap-owner"
PREFIXES = ("bootstrap-vm-", "bootstrap-mon-", "bootstrap-cwd-")


def scratch_dir(prefix: str) -> Path:
    """A new temporary folder that says which process owns it."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown scratch prefix {prefix!r}")  # a bug: sweep() would never find it
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    (folder / OWNER_FILE).write_text(_identity(os.getpid()) or "")
    return folder


def disown(folder: Path) -> None:
    """The folder now belongs to the user (a kept machine): never swept."""
    (folder / OWNER_FILE).unlink(missing_ok=True)


def sweep() -> list[Path]:
    """Remove the scratch folders of bootstrap processes that no longer run (killed with SIGKILL)."""
    removed = []
    for prefix in PREFIXES:
        for folder in Path(tempfile.gettempdir()).glob(prefix + "*"):
            try:
                info = folder.lstat()
                owner = (folder / OWNER_FILE).read_text() if stat.S_ISDIR(info.st_mode) else ""
            except (OSError, ValueError):
                continue  # not ours, or kept
            if info.st_uid != os.getuid():  # another user's folder (or a link) in a shared /tmp: never ours
                continue
            pid = owner.split(" ", 1)[0]
            if pid.isdigit() and _identity(int(pid)) != owner:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    return removed


def tied(command: list[str]) -> list[str]:
    """``command`` run so that it dies with the thread that starts it (util-linux's setpriv)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--", *command] if setpriv else command


def _identity(pid: int) -> str | None:
    """'PID STARTTIME': a pid alone could be reused by another process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return f"{pid} {stat.rsplit(')', 1)[1].split()[19]}"  # field 22, counted after the command name
