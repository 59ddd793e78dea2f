"""Time-to-ready of a baked local image: power-on to "bootstrap done" in QEMU, three ways, one run.

1. golden: an instance of the golden image baked from PROFILE (image-scope steps skipped),
2. plain:  the same profile on the plain base image (every step runs),
3. bare:   the plain base image with an empty profile (cloud-init and the runner, nothing else).

Prints golden/plain (how much baking saves) and golden/bare (how close a baked image gets to a
machine with nothing to do; target at most 1.25). Takes several minutes under TCG. Packages
come from a local apt repository built on this host, so the guests need no network.

    python benchmarks/time_to_ready.py [--profile base] [--output DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from pathlib import Path

from bootstrap.bake.events import Quiet
from bootstrap.bake.lifecycle import BakeOptions, bake
from bootstrap.clouds.local.backend import LocalBackend
from bootstrap.localvm.aptrepo import local_apt_setup
from bootstrap.localvm.image import ensure_base_image
from bootstrap.localvm.machine import BootImage, GuestSetup, Machine
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile
from bootstrap.targets import render

TARGET_GOLDEN_OVER_BARE = 1.25


def time_to_ready(image: BootImage, user_data: bytes, setup: GuestSetup, work: Path) -> float:
    with Machine(image, user_data, instance_id=f"ttr-{uuid.uuid4().hex[:8]}", workdir=work, setup=setup) as machine:
        machine.start()
        boot = machine.wait_for_result(1800)
        machine.power_off()
    if boot.result != "ok":
        raise SystemExit(f"boot ended {boot.result}: {boot.failed_step}\n{boot.console[-2000:]}")
    return boot.seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="base")
    parser.add_argument("--output", type=Path, help="where to keep the golden image (default: a temporary folder)")
    args = parser.parse_args()
    profile = load_profile(args.profile)
    plan = build_plan(profile)
    setup = local_apt_setup([str(p) for p in profile.data.get("packages", [])])
    with tempfile.TemporaryDirectory(prefix="ttr-") as scratch:
        output = args.output or Path(scratch) / "images"
        output.mkdir(parents=True, exist_ok=True)
        backend = LocalBackend(output, progress=lambda line: None, setup=setup)
        result = bake(plan, backend, BakeOptions(force=True, test=False), Quiet())
        assert result.image is not None
        golden = backend.boot_image(result.image.id)
        base = ensure_base_image(progress=lambda line: print(line, file=sys.stderr))
        bare_plan = build_plan(load_profile(str(_bare(Path(scratch)))))
        user_data = render(plan, "cloud-init").data
        seconds = {
            "golden": time_to_ready(golden, user_data, setup, Path(scratch) / "golden"),
            "plain": time_to_ready(base, user_data, setup, Path(scratch) / "plain"),
            "bare": time_to_ready(base, render(bare_plan, "cloud-init").data, setup, Path(scratch) / "bare"),
        }
    print(f"profile {args.profile}: bake took {result.timings['total']:.0f}s")
    for name, value in seconds.items():
        print(f"  time to ready, {name:<7} {value:6.1f} s")
    print(f"golden / plain = {seconds['golden'] / seconds['plain']:.2f} (baking saves "
          f"{seconds['plain'] - seconds['golden']:.0f} s per new instance)")  # fmt: skip
    ratio = seconds["golden"] / seconds["bare"]
    verdict = "ok" if ratio <= TARGET_GOLDEN_OVER_BARE else "OVER TARGET"
    print(f"golden / bare  = {ratio:.2f} (target <= {TARGET_GOLDEN_OVER_BARE}) {verdict}")
    return 0 if ratio <= TARGET_GOLDEN_OVER_BARE else 1


def _bare(folder: Path) -> Path:
    path = folder / "bare.yaml"
    path.write_text("name: bare\n")
    return path


if __name__ == "__main__":
    raise SystemExit(main())
