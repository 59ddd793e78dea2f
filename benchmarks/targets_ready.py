"""Time to ready per target, side by side in one run: power-on to "bootstrap done" when the user data
reaches the guest as each cloud hands it over, read by that cloud's client (bootstrap test --target).

For each target: the first boot (every step runs) and a reboot (every-boot steps only), the same
profile and base image, packages from a local apt repository (no network). Prints seconds and the
ratio to the cloud-init target (NoCloud seed disk). Target: every ratio at most 1.5, that is, no
cloud's way of handing over costs half again as much as a seed disk. Takes about 10 minutes under
TCG on 2 cores.

    python benchmarks/targets_ready.py [--profile base] [--targets ec2 gce]
"""

from __future__ import annotations

import argparse
import sys

from bootstrap.features import needs
from bootstrap.localvm.guest import choose_guest
from bootstrap.localvm.proof import prove
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile
from bootstrap.targets import TEST_TARGETS

TARGET_RATIO = 1.5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="base")
    parser.add_argument("--targets", nargs="+", choices=TEST_TARGETS, default=list(TEST_TARGETS))
    args = parser.parse_args()
    profile = load_profile(args.profile)
    plan = build_plan(profile)
    setup = choose_guest(needs(profile.data), network=False, local_apt=True).setup()
    targets = ["cloud-init", *[t for t in args.targets if t != "cloud-init"]]
    seconds: dict[str, tuple[float, float]] = {}
    accelerator = ""
    for target in targets:
        proof = prove(plan, reboots=1, setup=setup, target=target, progress=lambda line: None)
        if not proof.ok:
            print(f"{target}: FAILED\n  " + "\n  ".join(proof.problems), file=sys.stderr)
            return 1
        accelerator = proof.accelerator
        seconds[target] = (proof.boots[0].seconds, proof.boots[1].seconds)
        print(f"  {target:<14} ran by {proof.client}", file=sys.stderr)
    first, again = seconds["cloud-init"]
    print(f"profile {args.profile}, time to ready per target ({accelerator}; ratio to cloud-init's seed disk):")
    print(f"  {'target':<14}{'first boot':>12}{'ratio':>8}{'reboot':>10}{'ratio':>8}")
    worst = 0.0
    for target, (boot, reboot) in seconds.items():
        worst = max(worst, boot / first, reboot / again)
        print(f"  {target:<14}{boot:>11.1f}s{boot / first:>8.2f}{reboot:>9.1f}s{reboot / again:>8.2f}")
    verdict = "ok" if worst <= TARGET_RATIO else "OVER TARGET"
    print(f"worst ratio {worst:.2f} (target <= {TARGET_RATIO}) {verdict}")
    return 0 if worst <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
