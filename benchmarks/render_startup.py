"""Cold-start cost of `bootstrap render` relative to importing its three dependencies.

Prints the median wall time of `bootstrap render profiles/base.yaml --target ec2` over that of
`python -c "import yaml, jinja2, jsonschema"`, both measured alternately in this one run so
that machine noise hits both alike. Target: at most 1.5.

    python benchmarks/render_startup.py [--runs 21]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.5


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    baseline = [sys.executable, "-c", "import yaml, jinja2, jsonschema"]
    render = [sys.executable, "-m", "bootstrap", "render", "profiles/base.yaml", "--target", "ec2", "-o", os.devnull]
    wall(render)  # warm the file cache and the template bytecode cache, as a user's second run would be
    times: dict[str, list[float]] = {"baseline": [], "render": []}
    for _ in range(args.runs):
        times["baseline"].append(wall(baseline))
        times["render"].append(wall(render))
    base, rend = statistics.median(times["baseline"]), statistics.median(times["render"])
    ratio = rend / base
    print(f"import yaml, jinja2, jsonschema: median {base * 1000:.0f} ms over {args.runs} runs")
    print(f"bootstrap render base --target ec2: median {rend * 1000:.0f} ms over {args.runs} runs")
    verdict = "ok" if ratio <= TARGET_RATIO else "OVER TARGET"
    print(f"ratio {ratio:.2f} (target <= {TARGET_RATIO}): {verdict}")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
