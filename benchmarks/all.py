"""Every benchmark, one after another, each printing its figure and its target.

    python benchmarks/all.py          # the quick ones (about a minute)
    python benchmarks/all.py --vm     # also time to ready of a baked local image and per target (20 minutes)
    python benchmarks/all.py --long   # also the injection property at 10,000 examples (about 40 minutes) and
                                      # 200 drawn crash points (about 4 minutes)

They use the test suite's stand-ins (moto, the GCE Compute stand-in, pytest for the property), so
they need the test extras: tests/run installs them, or .venv/bin/pip install -e '.[test]'.

Exit status: the number of benchmarks that missed their target; 2 when the test extras are missing.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NEEDS = ("pytest", "hypothesis", "moto", "boto3", "google.cloud.compute_v1")  # the test extras
QUICK = [
    "render_startup.py",
    "throughput.py",
    "user_data_size.py",
    "every_boot_overhead.py",
    "bake_overhead.py",
    "check_speed.py",
]
VM = ["time_to_ready.py", "targets_ready.py"]


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vm", action="store_true", help="include time_to_ready.py and targets_ready.py (QEMU)")
    parser.add_argument("--long", action="store_true",
                        help="include injection.py (10,000 examples) and crash_points.py (200 drawn crash points)")
    args = parser.parse_args()
    missing = [name for name in NEEDS if not _importable(name)]
    if missing:
        print(f"benchmarks: {', '.join(missing)} missing: they use the test suite's stand-ins; install the test "
              f"extras first: {sys.executable} -m pip install -e '.[test]'", file=sys.stderr)  # fmt: skip
        return 2
    chosen = QUICK + (VM if args.vm else []) + (["injection.py", "crash_points.py"] if args.long else [])
    missed = []
    for script in chosen:
        print(f"== {script}", flush=True)
        if subprocess.run([sys.executable, str(HERE / script)], cwd=HERE.parent, check=False).returncode != 0:
            missed.append(script)
    print(f"== {len(chosen) - len(missed)} of {len(chosen)} on target" + (f"; missed: {', '.join(missed)}" if missed
                                                                          else ""))  # fmt: skip
    return len(missed)


if __name__ == "__main__":
    raise SystemExit(main())
