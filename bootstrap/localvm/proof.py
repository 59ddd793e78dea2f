"""`bootstrap test`: boot a profile in a local VM, handed over as a cloud does (clients.py), reboot it,
relaunch it as a new instance, and judge what ran.

A profile passes when every boot ends ok, each first-boot step ran exactly once per instance, every
every-boot step ran on every boot (its `verify` checks included), and the guest's console names the
cloud's client that ran the user data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..console import GuestReport
from ..errors import UsageError
from ..judge import judge_boots as judge
from ..plan import Plan
from ..targets import render
from .clients import CLIENTS, HANDOFFS
from .image import ensure_base_image
from .machine import BootImage, GuestSetup
from .vm import LocalVM

MAX_EXTRA_BOOTS = 3  # reboots the runner itself asks for (drivers), on top of the test's own

PROVABLE = {target: client.proves_with for target, client in CLIENTS.items()}


@dataclass
class Proof:
    profile: str
    accelerator: str
    target: str = "cloud-init"
    boots: list[GuestReport] = field(default_factory=list)
    instances: list[str] = field(default_factory=list)  # the instance id of each boot (a relaunch: a new one)
    problems: list[str] = field(default_factory=list)
    kept: Path | None = None
    client: str = ""  # as the guest's console names it
    delivered: list[dict[str, Any]] = field(default_factory=list)  # what the guest received, with hashes

    @property
    def ok(self) -> bool:
        return not self.problems


def prove(plan: Plan, *, reboots: int = 1, relaunch: bool = False, keep: bool = False, timeout: float = 900,
          progress: Callable[[str], None] = print, setup: GuestSetup | None = None,
          target: str = "cloud-init", start: Start | None = None) -> Proof:  # fmt: skip
    """Boot ``plan`` handed over as ``target``'s cloud does, reboot it ``reboots`` times, and with
    ``relaunch`` boot the same disk once more as a new instance (a new id through the same client).
    ``start``: a cached layer of the plan's image (layers.py) to boot instead of the base image."""
    if target not in CLIENTS:
        raise UsageError(f"a local VM cannot prove target {target!r}: {', '.join(CLIENTS)}")
    base = ensure_base_image(progress=progress)
    data = render(plan, CLIENTS[target].renders).data
    with LocalVM(start.disk if start else base, target, data, setup or GuestSetup(), keep=keep) as vm:
        proof = _boot(plan, vm, [1 + reboots] + ([1] if relaunch else []), timeout, progress,
                      start.steps if start else frozenset())  # fmt: skip
        consoles = [boot.console for boot in proof.boots]
        handover = vm.handover
        proof.target, proof.client, proof.delivered = target, handover.client(consoles), handover.delivered(consoles)
    if proof.ok and handover.expected_client() not in proof.client:  # a failed boot has said enough
        proof.problems.append(f"the guest's console never named the client ({handover.expected_client()}) that "
                              f"ran the user data{HANDOFFS[target].LOG_HINT}")  # fmt: skip
    return proof


@dataclass(frozen=True)
class Start:
    """A cached layer to boot from: its disk, and the steps it holds (they ran when it was made)."""

    disk: BootImage
    steps: frozenset[str]
    held: tuple[Any, ...] = ()  # the layers' locks (shared), held while the test reads them


def _boot(plan: Plan, vm: LocalVM, boots_per_instance: list[int], timeout: float,
          progress: Callable[[str], None], baked: frozenset[str]) -> Proof:  # fmt: skip
    proof = Proof(plan.profile, vm.machine.accelerator)
    proof.kept = vm.machine.dir if vm.machine.keep else None
    for number, wanted in enumerate(boots_per_instance):
        if number:
            progress(f"relaunch: the same disk as a new instance, {vm.relaunch()}")
        if not _boot_instance(vm, proof, wanted, timeout, progress):
            break
    proof.problems += judge(plan, proof.boots, proof.instances, baked)
    return proof


def _boot_instance(vm: LocalVM, proof: Proof, wanted: int, timeout: float,
                   progress: Callable[[str], None]) -> bool:  # fmt: skip
    """Boot the current instance ``wanted`` times (plus the reboots its runner asks for); False on a failure."""
    boots: list[GuestReport] = []
    while len([b for b in boots if b.result != "rebooting"]) < wanted:
        if len(boots) >= wanted + MAX_EXTRA_BOOTS:
            proof.problems.append("the machine kept asking for reboots")
            return False
        first = not proof.boots
        machine = vm.machine
        progress(f"boot {len(proof.boots) + 1}: starting ({proof.accelerator})")
        vm.start(first)
        boot = machine.wait_for_result(timeout, progress=lambda line: progress("  " + line.split("bootstrap: ")[-1]))
        if boot.result == "ok" and not vm.names_client(boot.console) and vm.wait_for_client(first):
            boot.console = machine.console()
        boots.append(boot)
        proof.boots.append(boot)
        proof.instances.append(vm.handover.instance_id)
        progress(f"boot {len(proof.boots)}: {boot.result} after {boot.seconds:.0f}s")
        machine.power_off()
        if boot.result not in ("ok", "rebooting"):
            return False
    return True


def proof_json(proof: Proof) -> dict[str, Any]:
    """The report of `bootstrap test --json`, and the boot report's report.json."""
    boots = [{"instance": instance, "result": b.result, "failed_step": b.failed_step, "seconds": round(b.seconds, 1),
              "steps": b.steps} for b, instance in zip(proof.boots, proof.instances, strict=True)]  # fmt: skip
    return {"profile": proof.profile, "ok": proof.ok, "target": proof.target, "client": proof.client,
            "delivered": proof.delivered, "accelerator": proof.accelerator, "boots": boots,
            "problems": proof.problems}  # fmt: skip
