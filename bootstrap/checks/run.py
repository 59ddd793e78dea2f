"""`bootstrap check`: every check on one profile, for each target. Returns a report; prints nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InputError, RenderError
from ..plan import Plan
from ..planner import build_plan
from ..profile import Profile, load_profile
from ..targets import TARGET_RECORDS, Variant, render
from . import Finding, clouds, merged, secrets, size
from .cache import FindingsCache
from .output import Pending, finish, prepare, snippets


@dataclass
class Report:
    profile: str
    path: str
    steps: int
    plan_hash: str
    budgets: list[size.Budget] = field(default_factory=list)
    contributors: list[tuple[str, int]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)


def check_profile(reference: str, targets: list[str], overrides: list[str] | None = None) -> Report:
    [(_, result)] = check_profiles([reference], targets, overrides)
    if isinstance(result, InputError):
        raise result
    return result


def check_profiles(references: list[str], targets: list[str], overrides: list[str] | None = None,
                   findings_cache: FindingsCache | None = None) -> list[tuple[str, Report | InputError]]:  # fmt: skip
    """Check many profiles, sharing the work: every rendered artifact of every profile is prepared
    first, then shellcheck and cloud-init run once over all their distinct scripts and parts."""
    prepared: list[tuple[str, Report | InputError, list[Pending]]] = []
    for reference in references:
        try:
            report, pending = _prepare(reference, targets, overrides or [])
        except InputError as exc:
            prepared.append((reference, exc, []))
            continue
        prepared.append((reference, report, pending))
    finished = iter(finish([p for _, _, pending in prepared for p in pending], findings_cache))
    for _, outcome, pending in prepared:
        if isinstance(outcome, Report):
            outcome.findings = merged(outcome.findings + [finding for _ in pending for finding in next(finished)])
    return [(reference, outcome) for reference, outcome, _ in prepared]


def _bake_findings(profile: Profile, plan: Plan) -> list[Finding]:
    """What `bake` would refuse, said here as warnings: the profile is fine as user data, and the
    pre-commit hooks run check, not bake."""
    from ..bakeable import refuse_unbakeable
    from ..errors import ProfileError

    try:
        refuse_unbakeable(profile, plan)
    except ProfileError as refused:
        return [Finding("warning", "bake", str(p.mark) if p.mark else profile.path, f"bake would refuse: {p.message}",
                        p.hint) for p in refused.problems]  # fmt: skip
    return []


def _prepare(reference: str, targets: list[str], overrides: list[str]) -> tuple[Report, list[Pending]]:
    profile = load_profile(reference, overrides)
    plan = build_plan(profile)
    report = Report(profile.name, profile.path, len(plan.steps), plan.hash)
    report.findings += secrets.scan_plan(profile.data, plan.steps)
    report.budgets = size.budgets(plan, targets)
    report.contributors = size.contributors(plan)
    report.findings += size.findings(plan, report.budgets)
    report.findings += clouds.findings(profile.data, targets)
    report.findings += _bake_findings(profile, plan)
    variants = [(t, Variant.USER_DATA) for t in targets]
    variants += [(t, Variant.BAKE) for t in targets if TARGET_RECORDS[t].bake_checked]
    pending = []
    for target, variant in variants:
        try:
            artifact = render(plan, target, variant=variant)
        except RenderError:
            continue  # already reported by the size budget, with the sizes
        pending.append(prepare(plan, artifact))
    texts, marks = snippets(profile.data)  # the same on every target: checked once
    if texts:
        pending.append(Pending([], texts, [], {}, plan.distro, marks))
    return report, pending

