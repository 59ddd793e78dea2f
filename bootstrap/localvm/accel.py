"""Which QEMU accelerator to use: KVM only where a real boot works with it, else TCG.

Measured on these machines: /dev/kvm exists, yet a Debian guest dies under KVM with an
"emulation failure", while TCG boots it. So /dev/kvm alone decides nothing: the first local
boot probes KVM with a real boot of the base image (QEMU dies within seconds when KVM cannot
run it) and the verdict is cached per QEMU build and kernel. BOOTSTRAP_QEMU_ACCEL=tcg or kvm
skips the probe.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
from pathlib import Path

from .. import hermetic

# A working KVM prints the kernel banner within a second or two; then cloud-init must start.
PROBE_STAGES = [(b"Linux version", 15.0), (b"Cloud-init v.", 90.0)]


def options(name: str) -> list[str]:
    return ["-accel", "kvm", "-cpu", "host,-cx16"] if name == "kvm" else ["-accel", "tcg", "-cpu", "max"]


def _cache_file(cache: Path) -> Path:
    qemu = shutil.which("qemu-system-x86_64") or ""
    stamp = f"{qemu}:{os.stat(qemu).st_mtime if qemu else 0}:{platform.release()}"
    return cache / f"accel-{hashlib.sha256(stamp.encode()).hexdigest()[:12]}.json"


def choose(cache: Path, probe: object = None) -> str:
    """tcg or kvm. ``probe`` (a callable returning True when a KVM boot works) runs at most once."""
    forced = os.environ.get("BOOTSTRAP_QEMU_ACCEL", "").lower()
    if forced in ("tcg", "kvm"):
        return forced
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    path = _cache_file(cache)
    try:
        return str(json.loads(path.read_text())["accelerator"])
    except (OSError, ValueError, KeyError):
        pass
    if probe is None:
        return "tcg"  # nothing to probe with yet: the safe choice, not cached
    works = bool(probe())  # type: ignore[operator]
    verdict = "kvm" if works else "tcg"
    cache.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"accelerator": verdict, "probed": "a real boot of the base image"}) + "\n")
    return verdict


def qemu_runs(command: list[str], stages: list[tuple[bytes, float]], serial: Path) -> bool:
    """Start QEMU; True when each marker reaches the serial log within its own time limit, counted
    from the previous one. False as soon as QEMU dies, reports a KVM error (it then pauses the guest
    rather than exiting) or a stage runs out of time: a guest that hangs says nothing at all."""
    import time

    errors = serial.with_name("qemu.stderr")
    with errors.open("wb") as stderr:
        from .leftovers import tied

        proc = hermetic.start(tied(command), stderr=stderr)
    try:
        for marker, limit in stages:
            deadline = time.monotonic() + limit
            while not (serial.exists() and marker in serial.read_bytes()):
                if proc.poll() is not None or b"KVM internal error" in errors.read_bytes():
                    return False
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.25)
        return True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
