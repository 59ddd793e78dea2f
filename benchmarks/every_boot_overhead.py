"""Every-boot cost when nothing changed: the runner's boot on an already set-up machine, in the
test sandbox (unshare + chroot, stub commands), over a bare `bash -c true` in the same sandbox.

Both are timed alternately in one run, so the sandbox's own cost and machine noise hit both.
Prints the medians, the ratio, and the runner's own overhead in milliseconds. Target: the
runner adds under 250 ms per boot for a typical profile (the built-in `base` plus a host name,
a service, idle shutdown and an every-boot command; needs root).

    python benchmarks/every_boot_overhead.py [--runs 15] [--profile PATH]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bootstrap.planner import build_plan  # noqa: E402
from bootstrap.profile import load_profile  # noqa: E402
from bootstrap.targets import render  # noqa: E402
from tests.sandbox import Sandbox, available  # noqa: E402

TARGET_MS = 250
TYPICAL = """\
name: typical
extends: [base]
hostname: ml-box
services:
  units: [{name: tracker, command: "sleep infinity", user: root}]
idle_shutdown: {after_minutes: 60}
commands:
  every_boot: [{name: stamp, run: "date > /var/tmp/last-boot"}]
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--profile", help="a profile file (default: the typical one above)")
    args = parser.parse_args()
    if reason := available():
        print(f"cannot run: {reason}")
        return 2
    with tempfile.TemporaryDirectory() as folder:
        profile = args.profile or str(Path(folder) / "typical.yaml")
        if not args.profile:
            Path(profile).write_text(TYPICAL)
        sandbox = Sandbox(Path(folder) / "machine")
        first = sandbox.boot(render(build_plan(load_profile(profile)), "bash").data)
        if first.returncode != 0:
            print(first.stdout[-2000:])
            return 1
        runner, bare = [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            result = sandbox.boot()
            runner.append(time.perf_counter() - start)
            assert result.returncode == 0, result.stdout
            start = time.perf_counter()
            sandbox.run("bash", "-c", "true")
            bare.append(time.perf_counter() - start)
    every, nothing = statistics.median(runner), statistics.median(bare)
    overhead_ms = (every - nothing) * 1000
    name = args.profile or "typical"
    print(f"profile {name}: every-boot run {every * 1000:.0f} ms, bare bash -c true {nothing * 1000:.0f} ms "
          f"(medians of {args.runs}, sandbox included in both)")  # fmt: skip
    print(f"ratio {every / nothing:.1f}; the runner adds {overhead_ms:.0f} ms (target < {TARGET_MS} ms) "
          f"{'ok' if overhead_ms < TARGET_MS else 'OVER TARGET'}")  # fmt: skip
    return 0 if overhead_ms < TARGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
