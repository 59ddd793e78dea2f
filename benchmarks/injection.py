"""The injection property at scale: at least 10,000 examples in the sandbox (needs root).

The suite runs the property at a small fixed count (tests/test_injection.py: its explicit examples
and 25 derandomized ones, about 12 s); this is its long run, with fresh random examples. It runs
tests/test_injection.py with BOOTSTRAP_INJECTION_EXAMPLES set, and prints how many examples
Hypothesis really ran, from its own statistics. About 0.2 s an example on 2 cores (40 minutes);
``benchmarks/all.py --long`` includes it.

    python benchmarks/injection.py [--examples 10000]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    args = parser.parse_args()
    env = {**os.environ, "BOOTSTRAP_INJECTION_EXAMPLES": str(args.examples)}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--hypothesis-show-statistics",
         "tests/test_injection.py::test_values_arrive_verbatim_and_never_run"],
        cwd=REPO, env=env, capture_output=True, text=True,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    ran = re.search(r"(\d+) passing, (\d+) failing", proc.stdout)
    count = int(ran.group(1)) if ran else 0
    print(proc.stdout[-3000:] if proc.returncode else "")
    print(f"injection property: {count:,} passing examples in {elapsed:.0f} s "
          f"({elapsed / max(count, 1) * 1000:.0f} ms each); target >= {args.examples:,}: "
          f"{'ok' if proc.returncode == 0 and count >= args.examples else 'FAILED'}")  # fmt: skip
    return 0 if proc.returncode == 0 and count >= args.examples else 1


if __name__ == "__main__":
    sys.exit(main())
