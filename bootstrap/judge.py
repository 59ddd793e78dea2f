"""The one judge of guest reports: what each step of a plan must have done on a machine's boots,
for `bootstrap test` (a fresh instance, rebooted, relaunched) and a bake's test (an instance of the
new image). Below both ``localvm`` and ``bake``, beside the console protocol it reads.

The rule, once: a first-boot step runs once per instance, except an image-scope one on an instance
of a baked image, which says it was baked; every other step runs on every boot.
"""

from __future__ import annotations

from .console import GuestReport
from .plan import Phase, Plan, Scope, Step


def expected(step: Step, baked_image: bool) -> str:
    """The status ``step`` must report on the first boot of an instance (of a baked image, or not)."""
    return "baked" if baked_image and step.phase == Phase.FIRST_BOOT and step.scope == Scope.IMAGE else "ok"


def judge_relaunch(plan: Plan, report: GuestReport) -> list[str]:
    """An instance of the new image: baked steps skipped, instance and every-boot steps ran."""
    if report.result != "ok":
        failed = f" at step {report.failed_step}" if report.failed_step else ""
        return [f"the test instance ended {report.result}{failed}; last console lines:\n{report.tail()}"]
    status = {s["id"]: s["status"] for s in report.steps}
    problems = []
    for step in plan.ordered:
        want = expected(step, baked_image=True)
        if status.get(step.id) != want:
            problems.append(f"step {step.id}: expected {want}, got {status.get(step.id, 'nothing')}")
    return problems


def judge_boots(plan: Plan, boots: list[GuestReport], instances: list[str] | None = None,
                baked: frozenset[str] = frozenset()) -> list[str]:  # fmt: skip
    """Problems of a fresh machine's boots: each first-boot step ran once per instance, each
    every-boot step every boot. ``baked``: steps of the layer the machine booted from (a cached layer
    of `bootstrap test`): each counts as run when an instance's first boot finds it baked."""
    problems = []
    for number, boot in enumerate(boots, start=1):
        if boot.result == "timeout":
            problems.append(f"boot {number}: no result within the timeout; last console lines:\n" + boot.tail(15))
        elif boot.result == "failed":
            problems.append(f"boot {number}: step {boot.failed_step} failed")
    if problems:
        return problems
    instances = instances or ["the instance"] * len(boots)
    # A step found baked is found so on every boot of its instance (no instance marker is written for it):
    # it counts on the instance's first boot only, as a step that ran does.
    firsts = {index for index, owner in enumerate(instances) if instances.index(owner) == index}
    ran = [[s["id"] for s in boot.steps
            if s["status"] == "ok" or (s["status"] == "baked" and s["id"] in baked and index in firsts)]
           for index, boot in enumerate(boots)]  # fmt: skip
    for instance in dict.fromkeys(instances):
        mine = [ids for ids, owner in zip(ran, instances, strict=True) if owner == instance]
        for step in plan.phase(Phase.FIRST_BOOT):
            count = sum(ids.count(step.id) for ids in mine)
            if count != 1:
                where = "" if len(set(instances)) == 1 else f" on instance {instance}"
                problems.append(f"first-boot step {step.id} ran {count} times{where}, not once")
    for step in plan.phase(Phase.EVERY_BOOT):
        missing = [n for n, (boot, ids) in enumerate(zip(boots, ran, strict=True), start=1)
                   if boot.result == "ok" and step.id not in ids]  # fmt: skip
        if missing:
            problems.append(f"every-boot step {step.id} did not run on boot {', '.join(map(str, missing))}")
    return problems
