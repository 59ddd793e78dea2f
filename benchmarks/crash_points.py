"""The crash property at length: power lost at points drawn at random in every built-in profile's first
boot, many more than the suite's fixed first, middle and last point of each (tests/test_crash_convergence.py),
each then booted again and compared with an uninterrupted machine (needs root). About 2 s an example on
2 cores.

    python benchmarks/crash_points.py [--examples 200]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200)
    args = parser.parse_args()
    env = {**os.environ, "BOOTSTRAP_CRASH_EXAMPLES": str(args.examples)}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--hypothesis-show-statistics",
                           "tests/test_crash_convergence.py::test_a_crash_at_a_drawn_point_converges_on_the_next_boot"],
                          cwd=REPO, env=env)  # fmt: skip
    print(f"crash_points: {args.examples} examples asked, {time.perf_counter() - start:.0f} s, exit {proc.returncode}")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
