"""A killed `bootstrap test` leaves nothing behind: SIGTERM stops QEMU and removes the temporary folders
(the machine's and the monitor socket's) like an error; after SIGKILL, QEMU dies with bootstrap and the
next run removes the folders. QEMU here is a stand-in that only waits, so this runs in seconds."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bootstrap.localvm import leftovers

pytestmark = pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs util-linux's setpriv")

# Its pid folder lies beside its own: bootstrap starts programs with a reduced environment (hermetic.py).
FAKE_QEMU = """#!/bin/bash
echo $$ > "$(dirname "$0")/../pids/$$"
exec sleep 300
"""
FAKE_TOUCH = """#!/bin/bash
# qemu-img create ... FILE / genisoimage ... -output FILE ...: make the last or -output file
out="${@: -1}"
while [ $# -gt 0 ]; do [ "$1" = -output ] && out=$2; shift; done
touch "$out"
"""


@pytest.fixture
def host(tmp_path: Path) -> dict[str, str]:
    """An environment whose QEMU is the stand-in, whose base image exists, and whose temp folder is ours."""
    from bootstrap.localvm.image import base_image

    tools, pids, scratch, cache = (tmp_path / name for name in ("bin", "pids", "tmp", "cache"))
    for folder in (tools, pids, scratch):
        folder.mkdir()
    for name, text in (("qemu-system-x86_64", FAKE_QEMU), ("qemu-img", FAKE_TOUCH), ("genisoimage", FAKE_TOUCH)):
        (tools / name).write_text(text)
        (tools / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{tools}:{os.environ['PATH']}", "TMPDIR": str(scratch),
           "XDG_CACHE_HOME": str(cache), "BOOTSTRAP_QEMU_ACCEL": "tcg",
           "PYTHONUNBUFFERED": "1"}  # fmt: skip
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(cache)
    try:
        image = base_image()
    finally:
        os.environ.pop("XDG_CACHE_HOME") if old is None else os.environ.__setitem__("XDG_CACHE_HOME", old)
    image.folder.mkdir(parents=True)
    for path in (image.disk, image.kernel, image.initrd):
        path.write_bytes(b"")
    (tmp_path / "p.yaml").write_text("name: p\nhostname: p.example.com\n")  # needs nothing from the network
    return env


def start_test(host: dict[str, str], tmp_path: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "bootstrap", "test", str(tmp_path / "p.yaml"), "--timeout", "300"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=host)


def qemu_pid(tmp_path: Path) -> int:
    deadline = time.monotonic() + 60
    while not (found := list((tmp_path / "pids").iterdir())):
        assert time.monotonic() < deadline, "the stand-in QEMU never started"
        time.sleep(0.05)
    return int(found[0].name)


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def wait_dead(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def test_sigterm_stops_qemu_and_removes_every_temporary_folder(host: dict[str, str], tmp_path: Path) -> None:
    proc = start_test(host, tmp_path)
    pid = qemu_pid(tmp_path)
    running = sorted(p.name.rsplit("-", 1)[0] for p in (tmp_path / "tmp").iterdir())
    assert running == ["bootstrap-cwd", "bootstrap-mon", "bootstrap-vm"]  # cwd: where its programs run
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    assert wait_dead(pid)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_sigterm_while_the_machine_is_being_made_removes_its_folders(host: dict[str, str], tmp_path: Path) -> None:
    slow = tmp_path / "bin" / "qemu-img"  # the overlay takes a while: the signal comes before QEMU starts
    slow.write_text('#!/bin/bash\necho $$ > "$(dirname "$0")/../pids/$$"\nexec sleep 300\n')
    proc = start_test(host, tmp_path)
    pid = qemu_pid(tmp_path)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert wait_dead(pid)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_after_sigkill_qemu_dies_too_and_the_next_run_removes_the_folders(host: dict[str, str],
                                                                          tmp_path: Path) -> None:  # fmt: skip
    proc = start_test(host, tmp_path)
    pid = qemu_pid(tmp_path)
    proc.kill()
    proc.wait(30)
    assert wait_dead(pid), "QEMU outlived a SIGKILLed bootstrap"
    left = sorted((tmp_path / "tmp").iterdir())
    assert len(left) == 3  # nothing can clean up after SIGKILL...
    kept = tmp_path / "tmp" / "bootstrap-vm-kept"  # ...and a kept machine (--keep-vm) is the user's
    kept.mkdir()
    (kept / "disk.qcow2").write_bytes(b"")
    os.environ["TMPDIR"], saved = str(tmp_path / "tmp"), os.environ.get("TMPDIR")
    import tempfile

    tempfile.tempdir = None
    try:
        removed = leftovers.sweep()  # what the next run does first
    finally:
        os.environ.pop("TMPDIR") if saved is None else os.environ.__setitem__("TMPDIR", saved)
        tempfile.tempdir = None
    assert sorted(removed) == left
    assert [p.name for p in (tmp_path / "tmp").iterdir()] == ["bootstrap-vm-kept"]


def test_a_running_owner_s_folders_are_never_swept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    mine = leftovers.scratch_dir("bootstrap-vm-")
    assert leftovers.sweep() == [] and mine.exists()
    (mine / leftovers.OWNER_FILE).write_text(f"{os.getpid()} 1")  # same pid, another start time: reused pid
    assert leftovers.sweep() == [mine]


FAKE_MMDEBSTRAP = """#!/bin/bash
# mmdebstrap's own temporary folder, in TMPDIR as File::Temp makes it, then a long download
work=$(mktemp -d "${TMPDIR:-/tmp}/mmdebstrap.XXXXXXXX")
touch "$work/partial.deb"
echo $$ > "$(dirname "$0")/../pids/$$"
exec sleep 300
"""


def test_sigterm_while_the_base_image_is_built_leaves_no_temporary_folder(host: dict[str, str],
                                                                          tmp_path: Path) -> None:  # fmt: skip
    cache = Path(host["XDG_CACHE_HOME"])
    for image in (cache / "bootstrap" / "images").glob("debian12-*"):
        shutil.rmtree(image)  # no base image yet: this run builds it
    (tmp_path / "bin" / "mmdebstrap").write_text(FAKE_MMDEBSTRAP)
    (tmp_path / "bin" / "mmdebstrap").chmod(0o755)
    proc = start_test(host, tmp_path)
    pid = qemu_pid(tmp_path)  # here: the stand-in mmdebstrap's
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert wait_dead(pid)
    assert list((tmp_path / "tmp").iterdir()) == []  # mmdebstrap's folder went with bootstrap's own
    assert not [p.name for p in (cache / "bootstrap" / "images").iterdir() if not p.name.endswith(".lock")]
