"""Render throughput: every built-in profile for every target, in one warm process.

Prints renders per second (profile x target, planning included) and profiles per second (all
targets of one profile). Target: at least 20 renders per second on 2 cores.

    python benchmarks/throughput.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import time

from bootstrap.planner import build_plan
from bootstrap.profile import builtin_profiles, load_profile
from bootstrap.targets import TARGETS, render

TARGET_RENDERS_PER_SECOND = 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    names = list(builtin_profiles())
    for name in names:  # warm: templates compiled, schema built
        render(build_plan(load_profile(name)), "cloud-init")
    start = time.perf_counter()
    for _ in range(args.rounds):
        for name in names:
            plan = build_plan(load_profile(name))
            for target in TARGETS:
                render(plan, target)
    seconds = time.perf_counter() - start
    renders = args.rounds * len(names) * len(TARGETS)
    rate = renders / seconds
    print(f"{len(names)} built-in profiles x {len(TARGETS)} targets x {args.rounds} rounds: {seconds:.2f} s")
    print(f"{rate:.1f} renders/s, {args.rounds * len(names) / seconds:.1f} profiles/s (all targets each)")
    verdict = "ok" if rate >= TARGET_RENDERS_PER_SECOND else "UNDER TARGET"
    print(f"target >= {TARGET_RENDERS_PER_SECOND} renders/s: {verdict}")
    return 0 if rate >= TARGET_RENDERS_PER_SECOND else 1


if __name__ == "__main__":
    raise SystemExit(main())
