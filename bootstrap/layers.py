"""Layers of a golden image: its image-scope first-boot steps, grouped and keyed in a hash chain.

A bake can start its builder from the deepest cached layer whose key it finds and run only the
steps after it (issue #25). This module is the pure part: which layers an image has, their keys,
and which layer a change invalidates. Where layers live (qcow2 overlays, AMIs, GCE images) is the
backends' business; they call ``image_layers`` with the source image they resolved and tag each
layer with ``Layer.key`` (a GCE label keeps its first 63 characters, as every label does).

Grouping: each heavy or network step is a layer of its own (the expensive work worth caching on
its own); consecutive fast steps share one (a layer per ``file-*`` step would cost more images
than it saves).

Keys: ``base`` = sha256(source image id, the environment, the backend's ``inputs``); layer k's key
= sha256(layer k-1's key, or ``base`` for the first; then each of its steps' id, phase, scope and
script). Every part is length-prefixed, so no profile value (newlines, NULs, a separator) can make
two different step lists meet. The full script is hashed, not ``Step.hash`` (16 hex digits, too
short against someone who chooses a profile to collide). The script already carries every input
a step installs: features embed file contents (files: text or base64), conda specs and templates
into it at render time. What a step does beyond its script is the *environment*, folded into the
first layer's key: bootstrap's version, the distro, and every file the bundle installs besides the
steps (bundle.machine_files of an empty plan of that distro: the runner, lib.sh from
templates/distro/*/lib.sh.j2, the seal), for every target (a change in any target's runner
invalidates all layers: safe, and it keeps keys one per source image, whatever the target); and
the header every step file gets (bundle.step_script). Not covered: what a step fetches from the
network (packages, drivers, a conda env by URL), which is what the layers' maximum age is for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from .plan import Phase, Plan, Scope, Step

KEY_VERSION = b"bootstrap layer key 1"  # bumped when the way keys are made changes
FAST = "fast"
UNRESOLVED = ""  # the source of explain and diff, which resolve none: no image id is empty
MAX_NAMED = 3  # a group of more steps is named first..last


def _digest(*parts: str | bytes) -> str:
    """sha256 over length-prefixed parts: ("ab", "c") and ("a", "bc") differ, whatever the bytes."""
    digest = hashlib.sha256(KEY_VERSION)
    for part in parts:
        data = part.encode("utf-8", "surrogateescape") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def step_digest(step: Step) -> str:
    """What a step runs, hashed in full: what Step.hash covers (id, phase, scope, script), unshortened."""
    return _digest("step", step.id, step.phase.value, step.scope.value, step.script)


@dataclass(frozen=True)
class Layer:
    index: int  # 1-based, in bake order
    steps: tuple[str, ...]  # step ids, in plan order
    digests: tuple[str, ...]  # step_digest of each, for saying what changed
    cost: str  # fast (a group of fast steps), network or heavy (one step)
    key: str  # sha256 hex of the layer below's key (or the chain's base) and these steps

    @property
    def name(self) -> str:
        """'nvidia-install'; 'timezone+users'; 'file-a..file-e (5 steps)'."""
        if len(self.steps) <= MAX_NAMED:
            return "+".join(self.steps)
        return f"{self.steps[0]}..{self.steps[-1]} ({len(self.steps)} steps)"

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "steps": list(self.steps), "cost": self.cost, "key": self.key}


@dataclass(frozen=True)
class Chain:
    """An image's layers over one source image."""

    source: str  # the source image id the keys were made over
    environment: str  # digest of what steps do beyond their scripts (see the module's docstring)
    inputs: tuple[tuple[str, str], ...]  # the backend's own inputs, sorted by name
    base: str  # the key the first layer builds on
    layers: tuple[Layer, ...]

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "base": self.base, "layers": [layer.to_json() for layer in self.layers]}


def image_steps(plan: Plan) -> list[Step]:
    """What a bake runs: the image-scope first-boot steps, in plan order."""
    return [s for s in plan.phase(Phase.FIRST_BOOT) if s.scope == Scope.IMAGE]


def groups(steps: Iterable[Step]) -> list[list[Step]]:
    """Heavy and network steps alone; each run of consecutive fast steps together."""
    result: list[list[Step]] = []
    for step in steps:
        if step.cost == FAST and result and all(s.cost == FAST for s in result[-1]):
            result[-1].append(step)
        else:
            result.append([step])
    return result


@cache  # the templates do not change while bootstrap runs
def environment(distro: str) -> str:
    """Digest of what every step's behaviour depends on besides its own script."""
    from . import __version__
    from .targets import TARGETS, Variant
    from .targets.bundle import machine_files, step_script

    parts: list[str] = ["version", __version__, "distro", distro]
    empty = Plan(profile="", distro=distro)
    for target in sorted(TARGETS):
        parts += ["target", target]
        for file in sorted(machine_files(empty, target, Variant.BAKE), key=lambda f: f.path):
            parts += [file.path, file.mode, file.content]
    probe = Step("probe", Phase.FIRST_BOOT, Scope.IMAGE, "probe", "")
    parts += ["step header", step_script(probe)]
    return _digest(*parts)


def image_layers(plan: Plan, source: str, inputs: Mapping[str, str] | None = None) -> Chain:
    """The layers of ``plan``'s image built from ``source`` (the source image id a backend resolved).
    ``inputs``: anything else of the backend's that changes what the steps do (e.g. the local apt
    repository a guest installs from), folded into the first layer's key; its order does not count."""
    given = tuple(sorted((inputs or {}).items()))
    env = environment(plan.distro)
    base = _digest("base", source, env, str(len(given)), *(p for item in given for p in item))
    layers: list[Layer] = []
    below = base
    for index, group in enumerate(groups(image_steps(plan)), 1):
        digests = tuple(step_digest(s) for s in group)
        below = _digest("layer", below, str(len(group)), *digests)
        cost = group[0].cost if len(group) == 1 else FAST
        layers.append(Layer(index, tuple(s.id for s in group), digests, cost, below))
    return Chain(source, env, given, base, tuple(layers))


@dataclass(frozen=True)
class LayerChange:
    """What a change does to an image's layers: the first of NEW's layers that cannot be reused, and why."""

    first: int | None  # 1-based index in NEW of the first layer to rebuild; None: every layer reused
    reused: int  # NEW's layers 1..reused are reusable from OLD's
    total: int  # NEW's layers
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"first_invalidated": self.first, "reused": self.reused, "total": self.total, "reason": self.reason}


def layer_change(old: Chain, new: Chain) -> LayerChange:
    """Which of NEW's layers OLD's cache still holds: keys are compared, the reason read from the steps."""
    total = len(new.layers)
    if not total:
        return LayerChange(None, 0, 0, "no image-scope steps: no layers")
    if old.base != new.base:
        return LayerChange(1, 0, total, f"{_base_reason(old, new)}: every layer")
    reused = 0
    for before, after in zip(old.layers, new.layers, strict=False):
        if before.key != after.key:
            break
        reused += 1
    if reused == total:
        if len(old.layers) == total:
            return LayerChange(None, total, total, "nothing image-scope changed: every layer reused")
        dropped = old.layers[total:]
        return LayerChange(None, total, total, f"every layer reused; the old image's {_span(dropped)} "
                           f"({', '.join(d.name for d in dropped)}) {'is' if len(dropped) == 1 else 'are'} "
                           "not in the new one")  # fmt: skip
    layer = new.layers[reused]
    previous = old.layers[reused] if reused < len(old.layers) else None
    why = _step_reason(old, new, previous, layer)
    return LayerChange(reused + 1, reused, total, f"layer {layer.index} of {total} ({layer.name}) changed: {why}")


def _span(layers: tuple[Layer, ...]) -> str:
    first, last = layers[0].index, layers[-1].index
    return f"layer {first}" if first == last else f"layers {first}-{last}"


def _base_reason(old: Chain, new: Chain) -> str:
    why = []
    if old.source != new.source:
        why.append("the source image changed")
    if old.environment != new.environment:
        why.append("bootstrap's runner, step library or version changed")
    if old.inputs != new.inputs:
        names = sorted({k for k, _ in old.inputs} ^ {k for k, _ in new.inputs}
                       | {k for k, v in old.inputs if (k, v) not in new.inputs})  # fmt: skip
        why.append(f"the backend's inputs changed ({', '.join(names)})")
    return " and ".join(why)


def _step_reason(old: Chain, new: Chain, before: Layer | None, after: Layer) -> str:
    """What differs between OLD's layer at this place (None: OLD had none) and NEW's."""
    was = dict(zip(before.steps, before.digests, strict=True)) if before else {}
    in_old = {step for layer in old.layers for step in layer.steps}
    in_new = {step for layer in new.layers for step in layer.steps}
    said = []
    for step, digest in zip(after.steps, after.digests, strict=True):
        if step not in was:
            said.append(f"step {step} {'moved here' if step in in_old else 'added'}")
        elif was[step] != digest:
            said.append(f"step {step}'s script")
    said += [f"step {step} {'moved' if step in in_new else 'removed'}" for step in was
             if step not in after.steps]  # fmt: skip
    if not said:  # the same steps, in another order
        said.append("the order of its steps")
    return ", ".join(said)
