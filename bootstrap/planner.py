"""Profile -> Plan: ask each active feature for its steps, in feature order."""

from __future__ import annotations

from dataclasses import replace

from .errors import ProfileError
from .features import Context, active
from .plan import Plan
from .profile import Profile


def build_plan(profile: Profile) -> Plan:
    context = Context(profile_name=profile.name, profile=profile.data)
    plan = Plan(profile=profile.name)
    seen: dict[str, str] = {}
    for feature, config in active(profile.data):
        for step in feature.steps(config, context):
            if step.origin is None:
                step = replace(step, origin=profile.data.value_marks.get(feature.KEY))
            if step.id in seen:
                raise ProfileError(f"step id {step.id!r} is produced by both {seen[step.id]} and {feature.KEY}")
            seen[step.id] = feature.KEY
            plan.steps.append(step)
        contribute = getattr(feature, "cloud_config", None)
        if contribute is not None:
            plan.cloud_config.update(contribute(config))
    return plan
