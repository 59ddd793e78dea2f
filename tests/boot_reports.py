"""Canned runs for the boot report's tests: consoles as our runner prints them (guest_sim.py), no VM."""

from __future__ import annotations

from bootstrap.console import GuestReport, report
from bootstrap.localvm.proof import Proof
from bootstrap.plan import Plan

from .guest_sim import console_lines, plan_rows

DELIVERED = [{"path": "seed disk: user-data", "user_agent": "", "size": 4321, "sha256": "5e" * 32}]


def boot(rows: list[tuple[str, str, str]], fail_at: str | None = None, extra: str = "",
         slow: int = 0) -> GuestReport:  # fmt: skip
    """One boot's report, from its console; ``slow``: that many steps take 1.2 s instead of 5 ms."""
    text = extra + console_lines(rows, "instance", fail_at).replace("ok in 5ms", "ok in 1200ms", slow)
    found = report(text)
    assert found is not None
    found.seconds = 41.0
    return found


def proof(plan: Plan | list[tuple[str, str, str]], fail_at: str | None = None, extra: str = "",
          client: str = "DataSourceNoCloud [seed=/dev/vdb]") -> Proof:  # fmt: skip
    """`bootstrap test`'s three boots: the first, a reboot, a relaunch (failing at ``fail_at``)."""
    rows = plan_rows(plan) if isinstance(plan, Plan) else plan
    boots = [boot(rows, extra=extra, slow=2), boot(rows, extra=extra), boot(rows, fail_at, extra)]
    problems = [f"boot 3: step {fail_at} failed"] if fail_at else []
    return Proof("base", "tcg", "cloud-init", boots, ["i-1", "i-1", "i-2"], problems, client=client,
                 delivered=list(DELIVERED))  # fmt: skip
