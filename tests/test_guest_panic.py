"""A guest that dies says so at once (issue 23): a kernel panic in the guest used to give 15 minutes
of silence, a timeout, then two more minutes waiting for an ACPI power-off that never came. QEMU here
is a stand-in that prints a panic on the serial console and then hangs, as a panicked guest's QEMU
does when nothing restarts it."""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

import pytest

from .test_killed_test import alive, host, qemu_pid, start_test  # noqa: F401 - host is a fixture

pytestmark = pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs util-linux's setpriv")

PANICKING_QEMU = """#!/bin/bash
echo $$ > "$(dirname "$0")/../pids/$$"
while [ $# -gt 0 ]; do case "$1" in -serial) serial=${2#file:}; shift ;; -append) append=$2; shift ;; esac; shift; done
printf '[    1.2] Run /init as init process\\n' >>"$serial"
printf '[    1.9] VFS: Cannot open root device "LABEL=bootstrap-root"\\n' >>"$serial"
printf '[    1.9] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\\n' >>"$serial"
printf '%s\\n' "$append" >"$(dirname "$0")/../kernel-args"
exec sleep 300
"""


def test_a_panicked_guest_is_stopped_at_once_and_its_panic_said(host: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    (tmp_path / "bin" / "qemu-system-x86_64").write_text(PANICKING_QEMU)
    started = time.monotonic()
    proc = start_test(host, tmp_path)
    pid = qemu_pid(tmp_path)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)
    assert time.monotonic() - started < 30, "a dead guest was waited for"
    assert proc.returncode == 3 and "Traceback" not in err, err
    assert "kernel panicked" in err and "Kernel panic - not syncing: VFS: Unable to mount root fs" in err
    assert "VFS: Cannot open root device" in err  # the lines before it: what the kernel was doing
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid), "QEMU of a dead guest was left running"
    assert "panic=1" in (tmp_path / "kernel-args").read_text().split()  # a real kernel restarts, QEMU then exits
