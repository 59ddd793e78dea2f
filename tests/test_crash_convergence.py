"""The runner survives a crash (issue 23): a machine that loses power at any point of its first boot
(SIGKILL of every process at once, in the sandbox) and boots again converges to the state of a machine
whose first boot was never interrupted. Crash points are every stub command and every call of the
tools steps write files with (mv, cat, mktemp, chmod...; tests/sandbox.py CRASH_POINT).

In the suite, fixed points of every built-in profile, the same on every run: its first crash point
(before the runner and its unit are installed: the payload runs again), its middle and its last.
The long run draws points at random: ``python benchmarks/crash_points.py`` (or
BOOTSTRAP_CRASH_EXAMPLES=N for this file's drawn test)."""

from __future__ import annotations

import hashlib
import os
import stat
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import render_text
from .sandbox import Sandbox, available

pytestmark = [pytest.mark.sandbox, pytest.mark.skipif(available() is not None, reason=str(available()))]

REPO = Path(__file__).resolve().parent.parent
PROFILES = sorted(p.stem for p in (REPO / "profiles").glob("*.yaml"))
# Not the machine's state: logs, this boot's tmpfs, the sandbox's own plumbing, and the runner's
# report of its last boot (which counts boots: a crashed machine has booted once more).
OUTSIDE = ("run", "proc", "dev", "usr", "tmp", "stubs", "var/log", "var/tmp", "var/lib/bootstrap/status.json",
           "var/lib/bootstrap/instances/i-sandbox-1/boots")  # fmt: skip
EXAMPLES = int(os.environ.get("BOOTSTRAP_CRASH_EXAMPLES", "0"))  # the drawn test's; 0: it is skipped


def state(box: Sandbox) -> dict[str, tuple[str, int, str]]:
    """path -> (kind, mode, content hash or link target) of everything a boot may have changed."""
    found: dict[str, tuple[str, int, str]] = {}
    for top in (box.root, box.base / "usr-local"):
        for folder, dirs, files in os.walk(top):
            relative = Path(folder).relative_to(top)
            if top == box.root and any(str(relative) == o or str(relative).startswith(o + "/") for o in OUTSIDE):
                dirs[:] = []
                continue
            for name in [*dirs, *files]:
                path = Path(folder) / name
                info = path.lstat()
                key = f"{'usr/local/' if top != box.root else ''}{(relative / name).as_posix()}"
                if key in OUTSIDE:
                    continue
                if stat.S_ISLNK(info.st_mode):
                    found[key] = ("link", 0, os.readlink(path))
                elif stat.S_ISDIR(info.st_mode):
                    found[key] = ("dir", stat.S_IMODE(info.st_mode), "")
                else:
                    found[key] = ("file", stat.S_IMODE(info.st_mode), hashlib.sha256(path.read_bytes()).hexdigest())
    return found


def machine(path: Path, profile: str) -> Sandbox:
    """A sandbox machine with what the profile's steps expect: a micromamba that runs, its data disks."""
    from bootstrap.profile import load_profile

    box = Sandbox(path)
    box.install_stub("/opt/conda/bin/micromamba")
    box.answer("micromamba", "--version", "2.0.5")
    from bootstrap.features.mounts import _device

    for mount in load_profile(profile).data.get("mounts") or []:
        if mount.get("device"):  # attached, as the cloud would attach it
            device = box.path(_device(mount["device"]))
            device.parent.mkdir(parents=True, exist_ok=True)
            device.touch()
    return box


def boot_twice(box: Sandbox, script: str) -> str:
    """The first boot and a reboot; the result the machine then reports."""
    box.run_script(script)
    box.boot()
    return str(box.status()["result"])


@cache
def reference(profile: str, base: str) -> tuple[dict[str, tuple[str, int, str]], frozenset[str], int, str]:
    """An uninterrupted first boot and a reboot, twice on fresh machines: the state, what differs
    between two such machines anyway (times, ids: not the crash's doing), and how many crash points
    a first boot passes."""
    script = render_text(profile, "bash")
    states, results = [], set()
    for n in range(2):
        box = machine(Path(base) / f"{profile}-reference-{n}", profile)
        results.add(boot_twice(box, script))
        states.append(state(box))
    (result,) = results
    volatile = frozenset(k for k in states[0].keys() | states[1].keys() if states[0].get(k) != states[1].get(k))
    counting = machine(Path(base) / f"{profile}-count", profile)
    _put(counting, script)
    assert not counting.crash_at(10**9, "bash", "/tmp/script.sh")  # the boot ends before such a point
    return states[0], volatile, counting.crash_points(), result


def _put(box: Sandbox, script: str) -> None:
    (box.root / "tmp/script.sh").write_text(script)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("crash"))


# Where in a first boot of N crash points the suite pulls the power: its first, middle and last point.
PLACES = {"first": lambda points: 1, "middle": lambda points: (points + 1) // 2, "last": lambda points: points}


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("profile", PROFILES)
def test_a_crash_in_the_first_boot_converges_on_the_next_boot(base: str, profile: str, place: str) -> None:
    points = reference(profile, base)[2]
    crash_and_converge(base, profile, PLACES[place](max(1, points)))


@pytest.mark.skipif(EXAMPLES == 0, reason="the long run: BOOTSTRAP_CRASH_EXAMPLES=N (benchmarks/crash_points.py)")
@settings(max_examples=max(1, EXAMPLES), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_crash_at_a_drawn_point_converges_on_the_next_boot(base: str, data: st.DataObject) -> None:
    profile = data.draw(st.sampled_from(PROFILES), label="profile")
    points = reference(profile, base)[2]
    point = data.draw(st.integers(min_value=1, max_value=max(1, points)), label="crash point")
    crash_and_converge(base, profile, point)


def crash_and_converge(base: str, profile: str, point: int) -> None:
    """Pull the power at ``point`` of the profile's first boot, boot again, compare with the reference."""
    expected, volatile, points, result = reference(profile, base)
    script = render_text(profile, "bash")
    box = machine(Path(base) / f"{profile}-crash-{point}-{os.urandom(4).hex()}", profile)
    _put(box, script)
    assert box.crash_at(point, "bash", "/tmp/script.sh"), f"crash point {point} of {points} never came"
    crashed_in = (box.root / "stubs" / "crashed").read_text().strip()
    # The power comes back: a boot with /run empty. The payload may have died before the runner and its
    # unit were installed; then it is run again, as cloud-init runs a per-instance part it never finished.
    if box.exists("/usr/local/lib/bootstrap/runner") and box.exists("/etc/systemd/system/bootstrap.service"):
        resumed = box.boot()
    else:
        box.reboot()
        resumed = box.run_script(script)
    box.boot()  # and the reboot of the uninterrupted reference
    assert box.status()["result"] == result, f"crashed in {crashed_in!r}; then:\n{resumed.stdout}{resumed.stderr}"
    after = state(box)
    differences = sorted(key for key in after.keys() | expected.keys()
                         if key not in volatile and after.get(key) != expected.get(key))  # fmt: skip
    assert differences == [], f"crashed at point {point} of {points} ({crashed_in!r}): {differences[:20]}"
