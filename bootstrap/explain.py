"""The plan for reviewers: what a profile does, step by step, without reading shell.

`bootstrap explain PROFILE` prints a table; `--json` (and `render --explain`) the same as data,
with each step's hash and size and the rendered size per target.
"""

from __future__ import annotations

from typing import Any

from .layers import UNRESOLVED, Chain, image_layers
from .plan import Phase, Plan, Scope
from .targets.bundle import step_script
from .terminal import columns

RUNS = {
    (Phase.FIRST_BOOT, Scope.IMAGE): "once per instance; skipped on instances of a baked image",
    (Phase.FIRST_BOOT, Scope.INSTANCE): "once per instance",
    (Phase.EVERY_BOOT, Scope.INSTANCE): "every boot",
    (Phase.EVERY_BOOT, Scope.IMAGE): "every boot",
}


def plan_json(plan: Plan, targets: tuple[str, ...] = (), source: str = UNRESOLVED) -> dict[str, Any]:
    from .errors import RenderError
    from .targets import render

    sizes: dict[str, Any] = {}
    for target in targets:
        try:
            artifact = render(plan, target)
            sizes[target] = {"bytes": len(artifact.data), "gzipped": artifact.gzipped}
        except RenderError as exc:
            sizes[target] = {"error": str(exc)}
    return {
        "profile": plan.profile,
        "plan_hash": plan.hash,
        "image_hash": plan.image_hash,
        "steps": [
            {
                "id": s.id, "phase": s.phase.value, "scope": s.scope.value, "feature": s.feature, "cost": s.cost,
                "description": s.description, "hash": s.hash, "bytes": len(step_script(s).encode()),
                "runs": RUNS[(s.phase, s.scope)], "origin": str(s.origin) if s.origin else None,
            }
            for s in plan.ordered
        ],
        "layers": image_layers(plan, source).to_json(),
        "sizes": sizes,
    }  # fmt: skip


def table(plan: Plan, source: str = UNRESOLVED) -> str:
    rows = [("step", "phase", "scope", "feature", "cost", "what")]
    rows += [(s.id, s.phase.value, s.scope.value, s.feature, s.cost, s.description) for s in plan.ordered]
    lines = columns(rows)
    baked = [s.id for s in plan.ordered if s.phase == Phase.FIRST_BOOT and s.scope == Scope.IMAGE]
    lines += [
        "",
        f"profile {plan.profile}: {len(plan.steps)} step{'' if len(plan.steps) == 1 else 's'}, plan {plan.hash}, "
        f"image {plan.image_hash}",
        "every boot takes the steps in this order: a first_boot step runs until it has succeeded once on",
        "this instance, an every_boot step each time (so the mounts, secrets and host name are in place",
        "for the first-boot steps after them); the first failure stops the boot, the next resumes there;",
        f"a baked image carries {', '.join(baked) or 'no step'} (scope image).",
        *_layer_lines(image_layers(plan, source)),
    ]
    return "\n".join(line.rstrip() for line in lines) + "\n"


KEY_SHOWN = 12  # hex digits of a layer's key in the table (--json has all 64)


def _layer_lines(chain: Chain) -> list[str]:
    """The image's layers: the keys a layer cache finds them by (the bake does not reuse them yet)."""
    if not chain.layers:
        return []
    over = "no source image (--source ID names one)" if chain.source == UNRESOLVED else f"source {chain.source}"
    rows = [("layer", "name", "steps", "key")]
    rows += [(str(layer.index), layer.name, ", ".join(layer.steps), layer.key[:KEY_SHOWN]) for layer in chain.layers]
    return ["", f"layers of a baked image, keys over {over}:", *columns(rows)]
