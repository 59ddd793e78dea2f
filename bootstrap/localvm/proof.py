"""`bootstrap test`: boot a profile in a local VM, reboot it, and judge what ran.

A profile passes when every boot ends ok, each first-boot step ran exactly once across the
boots, and every every-boot step ran on every boot (its `verify` checks included).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..console import GuestReport
from ..plan import Phase, Plan
from ..targets import render
from .image import ensure_base_image
from .machine import GuestSetup, Machine

MAX_EXTRA_BOOTS = 3  # reboots the runner itself asks for (drivers), on top of the test's own


@dataclass
class Proof:
    profile: str
    accelerator: str
    boots: list[GuestReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    kept: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def prove(plan: Plan, *, reboots: int = 1, keep: bool = False, timeout: float = 900,
          progress: Callable[[str], None] = print, setup: GuestSetup | None = None) -> Proof:  # fmt: skip
    base = ensure_base_image(progress=progress)
    user_data = render(plan, "cloud-init").data
    proof = Proof(plan.profile, "")
    wanted = 1 + reboots
    instance_id = f"bootstrap-test-{uuid.uuid4().hex[:8]}"
    with Machine(base, user_data, instance_id=instance_id, keep=keep, setup=setup) as machine:
        proof.accelerator = machine.accelerator
        proof.kept = machine.dir if keep else None
        while len([b for b in proof.boots if b.result != "rebooting"]) < wanted:
            if len(proof.boots) >= wanted + MAX_EXTRA_BOOTS:
                proof.problems.append("the machine kept asking for reboots")
                break
            progress(f"boot {len(proof.boots) + 1}: starting ({proof.accelerator})")
            machine.start()
            boot = machine.wait_for_result(
                timeout, progress=lambda line: progress("  " + line.split("bootstrap: ")[-1])
            )
            proof.boots.append(boot)
            progress(f"boot {len(proof.boots)}: {boot.result} after {boot.seconds:.0f}s")
            machine.power_off()
            if boot.result not in ("ok", "rebooting"):
                break
    proof.problems += judge(plan, proof.boots)
    return proof


def judge(plan: Plan, boots: list[GuestReport]) -> list[str]:
    problems = []
    for number, boot in enumerate(boots, start=1):
        if boot.result == "timeout":
            problems.append(f"boot {number}: no result within the timeout; last console lines:\n"
                            + "\n".join(boot.console.splitlines()[-15:]))  # fmt: skip
        elif boot.result == "failed":
            problems.append(f"boot {number}: step {boot.failed_step} failed")
    if problems:
        return problems
    ran = [[s["id"] for s in boot.steps if s["status"] == "ok"] for boot in boots]
    for step in plan.phase(Phase.FIRST_BOOT):
        count = sum(ids.count(step.id) for ids in ran)
        if count != 1:
            problems.append(f"first-boot step {step.id} ran {count} times, not once")
    for step in plan.phase(Phase.EVERY_BOOT):
        missing = [n for n, (boot, ids) in enumerate(zip(boots, ran, strict=True), start=1)
                   if boot.result == "ok" and step.id not in ids]  # fmt: skip
        if missing:
            problems.append(f"every-boot step {step.id} did not run on boot {', '.join(map(str, missing))}")
    return problems
