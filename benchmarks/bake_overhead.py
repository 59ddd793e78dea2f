"""Orchestration overhead of a full bake (launch, wait, image, test, promote, prune) against the
local stand-ins: the GCE Compute stand-in of the test suite (answers at once, no simulated waits)
and a moto server for EC2 (whose own request handling is counted separately).

Target: a GCE bake under 2 s of orchestration; no fixed sleeps anywhere (polls back off from a
few milliseconds). Prints the median of several forced bakes.

    python benchmarks/bake_overhead.py [--runs 5]
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

from bootstrap.bake.events import Quiet  # noqa: E402
from bootstrap.bake.lifecycle import BakeOptions, bake  # noqa: E402
from bootstrap.planner import build_plan  # noqa: E402
from bootstrap.profile import load_profile  # noqa: E402

TARGET_SECONDS = 2.0


def gce_bakes(plan, runs: int) -> list[float]:
    from google.auth.credentials import AnonymousCredentials

    from bootstrap.clouds.gce.backend import GceBackend
    from tests.gce_standin import PUBLIC_FAMILY, PUBLIC_PROJECT, Compute, ComputeServer

    compute = Compute()
    seconds = []
    with ComputeServer(compute) as server:
        backend = GceBackend(project="bench", zone="europe-west1-b", endpoint=server.endpoint,
                             source=f"projects/{PUBLIC_PROJECT}/global/images/family/{PUBLIC_FAMILY}",
                             credentials=AnonymousCredentials(), poll_first=0.005)  # fmt: skip
        for _ in range(runs):
            start = time.perf_counter()
            bake(plan, backend, BakeOptions(force=True, keep=2), Quiet())
            seconds.append(time.perf_counter() - start)
    return seconds


def ec2_bakes(plan, runs: int) -> tuple[list[float], list[float]]:
    from moto.server import ThreadedMotoServer

    from bootstrap.clouds.ec2.backend import Ec2Backend
    from tests.aws_fakes import REGION, SOURCE_PARAMETER, FakeGuest, MotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    totals, in_server = [], []
    try:
        host, port = server.get_host_and_port()
        moto = MotoServer(f"http://{host}:{port}")
        session = moto.session()
        FakeGuest(moto, plan).attach(session)
        clock = {"sent": 0.0, "spent": 0.0}
        session.events.register("before-send", lambda **kw: clock.__setitem__("sent", time.perf_counter()))
        session.events.register("response-received", lambda **kw: clock.__setitem__(
            "spent", clock["spent"] + time.perf_counter() - clock["sent"]))  # fmt: skip
        backend = Ec2Backend(region=REGION, source=f"ssm:{SOURCE_PARAMETER}", endpoint_url=moto.endpoint,
                             session=session, poll_first=0.005)  # fmt: skip
        for _ in range(runs):
            clock["spent"] = 0.0
            start = time.perf_counter()
            bake(plan, backend, BakeOptions(force=True, keep=2), Quiet())
            totals.append(time.perf_counter() - start)
            in_server.append(clock["spent"])
    finally:
        server.stop()
    return totals, in_server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.yaml"
        path.write_text("name: bench\npackages: [htop]\ncommands: {first_boot: [echo hi], every_boot: [date]}\n")
        plan = build_plan(load_profile(str(path)))
    gce = statistics.median(gce_bakes(plan, args.runs))
    totals, in_server = ec2_bakes(plan, args.runs)
    ec2_total, ec2_server = statistics.median(totals), statistics.median(in_server)
    ok = gce <= TARGET_SECONDS and ec2_total - ec2_server <= TARGET_SECONDS
    print(f"gce bake against the stand-in: {gce:.3f} s (target <= {TARGET_SECONDS} s)")
    print(f"ec2 bake against moto:         {ec2_total:.3f} s, of which {ec2_server:.3f} s waiting on moto; "
          f"orchestration {ec2_total - ec2_server:.3f} s (target <= {TARGET_SECONDS} s)")  # fmt: skip
    print("ok" if ok else "OVER TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
