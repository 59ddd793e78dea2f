"""Every benchmark, one after another, each printing its figure and its target.

    python benchmarks/all.py          # the quick ones (about a minute)
    python benchmarks/all.py --vm     # also time-to-ready of a baked local image (several minutes)
    python benchmarks/all.py --long   # also the injection property at 10,000 examples (about 40 minutes)

Exit status: the number of benchmarks that missed their target.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUICK = ["render_startup.py", "throughput.py", "user_data_size.py", "every_boot_overhead.py", "bake_overhead.py"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vm", action="store_true", help="include time_to_ready.py (QEMU, minutes)")
    parser.add_argument("--long", action="store_true", help="include injection.py (10,000 examples)")
    args = parser.parse_args()
    chosen = QUICK + (["time_to_ready.py"] if args.vm else []) + (["injection.py"] if args.long else [])
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
