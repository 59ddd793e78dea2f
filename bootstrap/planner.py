"""Profile -> Plan: ask each active feature for its steps, in feature order, then put them in the
order they run (bootstrap/ordering.py)."""

from __future__ import annotations

from dataclasses import replace
from types import ModuleType
from typing import Any

from .errors import NotOnDistro, Problem, ProfileError
from .features import Context, active, all_features
from .ordering import order_steps
from .plan import Plan, Step
from .profile import Profile


def build_plan(profile: Profile) -> Plan:
    context = Context(profile_name=profile.name, profile=profile.data, boundary=profile.boundary,
                      folder=profile.folder)  # fmt: skip
    plan = Plan(profile=profile.name, distro=context.distro.name)
    seen: dict[str, str] = {}
    for feature, config in active(profile.data):
        for step in _steps(feature, config, context):
            if step.origin is None:
                step = replace(step, origin=profile.data.value_marks.get(feature.KEY))
            if step.id in seen:
                raise ProfileError(f"step id {step.id!r} is produced by both {seen[step.id]} and {feature.KEY}")
            seen[step.id] = feature.KEY
            plan.steps.append(step)
        _bounded(plan, feature.KEY, profile)
        contribute = getattr(feature, "cloud_config", None)
        if contribute is not None:
            plan.cloud_config.update(contribute(config))
    plan.steps = order_steps(plan.steps, all_features())
    _no_certain_credentials(plan, profile)
    return plan


def _steps(feature: ModuleType, config: Any, context: Context) -> list[Step]:
    """The feature's steps; what its distro lacks refused at the feature's key in the profile."""
    try:
        return list(feature.steps(config, context))
    except NotOnDistro as exc:
        mark = context.profile.value_marks.get(feature.KEY) if context.profile is not None else None
        hint = f"drop {feature.KEY}, or use a distro of a family that names what it installs"
        raise NotOnDistro([Problem(f"{feature.KEY}: {p.message}", mark, hint) for p in exc.problems]) from None


# No cloud takes more than a few hundred KiB of user data; a plan far past that is a mistake or an
# attack (a profile that multiplies text), refused before its scripts are rendered into targets.
MAX_PLAN_BYTES = 8 * 1024 * 1024


def _bounded(plan: Plan, key: str, profile: Profile) -> None:
    total = sum(len(step.script) for step in plan.steps)
    if total > MAX_PLAN_BYTES:
        largest = max(plan.steps, key=lambda step: len(step.script))
        raise ProfileError(
            Problem(
                f"the rendered steps reach {total:,} bytes (over {MAX_PLAN_BYTES:,}) at {key!r}; "
                f"the largest is step {largest.id} ({len(largest.script):,} bytes)",
                largest.origin or profile.data.value_marks.get(key),
                "fetch large content at boot instead of embedding it",
            )
        )


def _no_certain_credentials(plan: Plan, profile: Profile) -> None:
    """A private key or a cloud key pair in user data is a leak whatever else is right: refuse it
    here, so validate and render stop it, not only check. The detector library stays unloaded."""
    from .checks.secrets import refusals

    problems = refusals(profile.data, plan.steps)
    if problems:
        raise ProfileError(problems)
