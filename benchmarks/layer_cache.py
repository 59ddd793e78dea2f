"""The layer cache (#25), measured in one run on the local backend: a profile of three layers (a time
zone; a heavy package install from a local apt repository; two files), baked and tested around
changes. Targets: a bake after a change to the last image step at most 0.3x a full bake, and a
`bootstrap test` after a change at most 0.5x a cold test. Bakes here skip their test boot (--no-test):
what is compared is the build. Takes about half an hour under TCG.

    python benchmarks/layer_cache.py [--packages build-essential,git,jq] [--bakes-only]

A rebake after a last-step change still boots a builder, seals the disk (its manifest hashes every
file) and flattens the image: about two minutes under TCG whatever the change. The ratio therefore
depends on how heavy the heavy step is; each bake's phases are printed to show where the time goes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bootstrap.bake.events import Quiet
from bootstrap.bake.lifecycle import BakeOptions, BakeResult, bake
from bootstrap.clouds.local.backend import LocalBackend
from bootstrap.layers import image_layers
from bootstrap.localvm.aptrepo import local_apt_setup
from bootstrap.localvm.machine import GuestSetup
from bootstrap.localvm.proof import Start, prove
from bootstrap.plan import Plan
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile

TARGET_LAST_OVER_FULL = 0.3
TARGET_TEST_OVER_COLD = 0.5
PROFILE = """\
name: layers-bench
timezone: {timezone}
packages: [{packages}]
files:
  - path: /etc/bench-first
    content: "first\\n"
  - path: /etc/motd
    content: "{motd}\\n"
"""


def _plan(folder: Path, packages: str, motd: str, timezone: str = "UTC") -> Plan:
    path = folder / f"layers-bench-{motd}-{timezone.replace('/', '-')}.yaml"
    path.write_text(PROFILE.format(timezone=timezone, packages=packages, motd=motd))
    return build_plan(load_profile(str(path)))


def _bake(backend: LocalBackend, plan: Plan) -> BakeResult:
    result = bake(plan, backend, BakeOptions(test=False, build_timeout=3600), Quiet())
    if result.status != "built":
        raise SystemExit(f"bake ended {result.status}")
    phases = ", ".join(f"{k} {v:.0f} s" for k, v in result.timings.items() if k != "total")
    print(f"    phases: {phases}", file=sys.stderr, flush=True)
    return result


def _test(plan: Plan, setup: GuestSetup, start: Start | None) -> float:
    began = time.monotonic()
    proof = prove(plan, reboots=1, relaunch=True, timeout=3600, progress=lambda line: None, setup=setup,
                  start=start)  # fmt: skip
    if not proof.ok:
        raise SystemExit("test failed: " + "; ".join(proof.problems))
    return time.monotonic() - began


def _deepest(backend: LocalBackend, plan: Plan) -> Start | None:
    chain = image_layers(plan, backend.resolve_source().id, backend.layer_inputs())
    for layer in reversed(chain.layers):
        if found := backend.find_layer(layer.key, 0):
            steps = frozenset(s for la in chain.layers[: layer.index] for s in la.steps)
            return Start(backend.boot_image(found.id), steps)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", default="build-essential,git,jq", help="the heavy step's packages")
    parser.add_argument("--bakes-only", action="store_true", help="measure the bakes, not the tests")
    args = parser.parse_args()
    packages = ", ".join(p.strip() for p in args.packages.split(",") if p.strip())
    setup = local_apt_setup([p.strip() for p in packages.split(",")])
    with tempfile.TemporaryDirectory(prefix="layer-bench-") as scratch:
        folder = Path(scratch)
        backend = LocalBackend(folder / "images", progress=lambda line: None, setup=setup,
                               layer_cache=folder / "layers")  # fmt: skip
        say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
        full = _bake(backend, _plan(folder, packages, "v1"))
        say(f"full bake {full.timings['total']:.0f} s, layers {full.layers}")
        last = _bake(backend, _plan(folder, packages, "v2"))
        say(f"after a change to the last step {last.timings['total']:.0f} s, reused {last.layers['reused']}")
        first = _bake(backend, _plan(folder, packages, "v2", timezone="Europe/Paris"))
        say(f"after a change to the first step {first.timings['total']:.0f} s, reused {first.layers['reused']}")
        if args.bakes_only:
            ratio = last.timings["total"] / full.timings["total"]
            print(f"full bake {full.timings['total']:.0f} s, last-step bake {last.timings['total']:.0f} s, "
                  f"first-step bake {first.timings['total']:.0f} s: last-step bake / full bake = {ratio:.2f} "
                  f"(target <= {TARGET_LAST_OVER_FULL}) {'ok' if ratio <= TARGET_LAST_OVER_FULL else 'OVER TARGET'}")
            return 0 if ratio <= TARGET_LAST_OVER_FULL else 1
        cold = _test(_plan(folder, packages, "v3"), setup, None)
        say(f"cold test {cold:.0f} s")
        changed = _plan(folder, packages, "v4")
        start = _deepest(backend, changed)
        if start is None:
            raise SystemExit("no cached layer for the test after a change")
        warm = _test(changed, setup, start)
        say(f"test after a change {warm:.0f} s")
    seconds = {"full bake": full.timings["total"], "bake after a change to the last step": last.timings["total"],
               "bake after a change to the first step": first.timings["total"], "cold test": cold,
               "test after a change to the last step": warm}  # fmt: skip
    for name, value in seconds.items():
        print(f"  {name:<40} {value:7.0f} s")
    bake_ratio, test_ratio = last.timings["total"] / full.timings["total"], warm / cold
    ok = bake_ratio <= TARGET_LAST_OVER_FULL and test_ratio <= TARGET_TEST_OVER_COLD
    print(f"last-step bake / full bake = {bake_ratio:.2f} (target <= {TARGET_LAST_OVER_FULL}) "
          f"{'ok' if bake_ratio <= TARGET_LAST_OVER_FULL else 'OVER TARGET'}")  # fmt: skip
    print(f"test after a change / cold test = {test_ratio:.2f} (target <= {TARGET_TEST_OVER_COLD}) "
          f"{'ok' if test_ratio <= TARGET_TEST_OVER_COLD else 'OVER TARGET'}")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
