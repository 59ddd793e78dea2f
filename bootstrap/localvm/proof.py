"""`bootstrap test`: boot a profile in a local VM, reboot it, and judge what ran.

A profile passes when every boot ends ok, each first-boot step ran exactly once across the
boots, and every every-boot step ran on every boot (its `verify` checks included).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..console import GuestReport
from ..errors import UsageError
from ..plan import Phase, Plan
from ..targets import render
from .image import GCE_STARTUP_UNIT, BaseImage, ensure_base_image
from .machine import GuestSetup, Machine
from .metadata import MetadataServer

MAX_EXTRA_BOOTS = 3  # reboots the runner itself asks for (drivers), on top of the test's own


PROVABLE = {  # target -> the client in the guest that reads the user data as that cloud hands it over
    "cloud-init": "cloud-init's NoCloud datasource (a seed disk)",
    "gce": "Google's guest agent (google_metadata_script_runner) from a metadata server stand-in",
}
AGENT_BANNER = re.compile(r"Starting startup scripts \(version ([^)]*)\)")


@dataclass
class Proof:
    profile: str
    accelerator: str
    target: str = "cloud-init"
    boots: list[GuestReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    kept: Path | None = None
    client: str = ""  # as the guest's console names it, per boot where it can
    delivered: list[dict[str, Any]] = field(default_factory=list)  # what the guest fetched, with hashes

    @property
    def ok(self) -> bool:
        return not self.problems


def prove(plan: Plan, *, reboots: int = 1, keep: bool = False, timeout: float = 900,
          progress: Callable[[str], None] = print, setup: GuestSetup | None = None,
          target: str = "cloud-init") -> Proof:  # fmt: skip
    if target not in PROVABLE:
        raise UsageError(f"a local VM cannot prove target {target!r} yet: {', '.join(PROVABLE)}")
    base = ensure_base_image(progress=progress)
    instance_id = f"bootstrap-test-{uuid.uuid4().hex[:8]}"
    setup = setup or GuestSetup()
    with contextlib.ExitStack() as stack:
        if target == "gce":  # the seed carries no user data: the agent fetches the startup-script
            metadata = stack.enter_context(MetadataServer({"startup-script": render(plan, "gce").data.decode()},
                                                          str(uuid.uuid4().int % 10**19)))  # fmt: skip
            setup = replace(setup, metadata_port=metadata.port,
                            kernel_args=(*setup.kernel_args, f"systemd.wants={GCE_STARTUP_UNIT}"))  # fmt: skip
            user_data = b""
        else:
            metadata = None
            user_data = render(plan, "cloud-init").data
        proof = _boot(plan, base, user_data, instance_id, setup, reboots, keep, timeout, progress)
        proof.target = target
        if metadata is not None:
            versions = sorted({m.group(1) for boot in proof.boots for m in AGENT_BANNER.finditer(boot.console)})
            proof.client = f"google_metadata_script_runner {', '.join(versions)}" if versions else ""
            script = metadata.attributes["startup-script"].encode()
            proof.delivered = [{**vars(served), "startup-script": {"size": len(script),
                                                                   "sha256": hashlib.sha256(script).hexdigest()}}
                               for served in metadata.served if "attributes" in served.path]  # fmt: skip
            if not versions:
                proof.problems.append("the console never showed Google's script runner starting")
        else:
            proof.client = "cloud-init NoCloud" if any("Cloud-init v." in b.console for b in proof.boots) else ""
    return proof


def _boot(plan: Plan, base: BaseImage, user_data: bytes, instance_id: str, setup: GuestSetup, reboots: int,
          keep: bool, timeout: float, progress: Callable[[str], None]) -> Proof:  # fmt: skip
    proof = Proof(plan.profile, "")
    wanted = 1 + reboots
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
