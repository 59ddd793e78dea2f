"""Size budget: what each target sends against each cloud's limit, and what takes the room."""

from __future__ import annotations

from dataclasses import dataclass

from ..plan import Plan
from ..targets import TARGET_RECORDS
from ..targets.bundle import machine_files
from ..targets.limits import base64_size, gzip_bytes
from . import Finding


@dataclass(frozen=True)
class Budget:
    target: str
    raw: int
    gzip: int
    base64: int  # of what is sent, as APIs carry it
    sent: int  # bytes the cloud counts against its limit
    limit: int
    limit_name: str
    severity_over: str  # how bad it is to be over: error where the cloud refuses, warning where only some do

    @property
    def fits(self) -> bool:
        return self.sent <= self.limit


def budgets(plan: Plan, targets: list[str]) -> list[Budget]:
    """Each target's bytes against its own size limit (the one its rendering refuses by)."""
    result = []
    for name in targets:
        limit = TARGET_RECORDS[name].size
        raw = TARGET_RECORDS[name].carry(plan)
        sent = limit.sent(raw)
        packed = len(sent) if sent is not raw else len(gzip_bytes(raw))
        result.append(Budget(name, len(raw), packed, base64_size(len(sent)), len(sent), limit.limit, limit.name,
                             limit.severity))  # fmt: skip
    return result


def contributors(plan: Plan, top: int = 5) -> list[tuple[str, int]]:
    """The largest pieces of what every target carries: runner, library and each step."""
    sizes = [
        (f.path.rsplit("/", 1)[-1].removesuffix(".sh"), len(f.content.encode()))
        for f in machine_files(plan, "cloud-init")
    ]
    return sorted(sizes, key=lambda item: -item[1])[:top]


def findings(plan: Plan, budgets_: list[Budget]) -> list[Finding]:
    result = []
    largest = ", ".join(f"{name} {size:,} B" for name, size in contributors(plan))
    for budget in budgets_:
        if budget.limit and not budget.fits:
            result.append(Finding(
                budget.severity_over, "size", f"{plan.profile}[{budget.target}]",
                f"{budget.sent:,} bytes sent is over the {budget.limit_name} limit of {budget.limit:,} "
                f"({budget.raw:,} raw, {budget.gzip:,} gzipped, {budget.base64:,} base64)",
                f"largest parts: {largest}. Fetch big files at boot from object storage, or bake an image.",
            ))  # fmt: skip
    return result
