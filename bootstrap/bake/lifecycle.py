"""One bake, whatever the backend: source → launch builder → wait → image → test → copy → share →
promote → prune, as steps (steps.py) that each own their clean-up, undone in reverse (multistep.py):
builder and test machines deleted whatever happens, and a not-yet-promoted image (and its copies)
deleted when a later step fails. Errors name the step that failed.

Copies are made before promotion, so a failed copy leaves nothing half-published.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..console import GuestReport
from ..judge import judge_relaunch
from ..plan import Phase, Plan, Scope
from .backend import Backend, Capability, Identity, Image, Source, can, require
from .events import Events
from .multistep import Action, as_step, run_steps
from .pruning import deprecated_at, prune
from .steps import BakeState, bake_steps
from .waiting import wait_for_guest

__all__ = ["BakeOptions", "BakeResult", "bake", "baked_steps", "deprecated_at", "image_name", "judge_relaunch",
           "prune", "wait_for_guest"]  # fmt: skip

NAME_LIMIT = 63  # GCE resource names; AMI names allow more


@dataclass
class BakeOptions:
    force: bool = False
    dry_run: bool = False
    keep: int = 3  # newest images kept per profile and region
    grace_days: float = 7  # older ones are deprecated first, deleted this long after (0: deleted at once)
    regions: tuple[str, ...] = ()  # copy the image to these regions too
    build_timeout: float = 3600
    test_timeout: float = 1800
    test: bool = True  # launch the new image once and check what ran
    share: tuple[Any, ...] = ()  # sharing.Principal: who may launch the image (each backend takes its cloud's)
    machine_ttl: float = 4 * 3600  # builder and test machines older than this are fair game for reap
    max_age_days: float = 30  # a layer whose oldest part is older is not reused: security updates within a month
    refresh: bool = False  # reuse no layer (each is made again, and kept)

    @property
    def lifetime(self) -> float:
        """How long a machine of this bake may live: never reaped while its own bake may still wait on it."""
        return max(self.machine_ttl, self.build_timeout + self.test_timeout + 3600)


@dataclass
class BakeResult:
    profile: str
    status: str  # built, unchanged, planned
    identity: Identity
    source: Source
    image: Image | None = None
    copies: list[Image] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    baked_steps: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    test: GuestReport | None = None
    layers: dict[str, Any] = field(default_factory=dict)  # total, reused, from (a layer id), made (ids)

    def summary(self) -> dict[str, Any]:
        return {
            "profile": self.profile, "status": self.status, "image_hash": self.identity.image_hash,
            "source": {"id": self.source.id, "description": self.source.description},
            "image": _image_json(self.image) if self.image else None,
            "copies": [_image_json(c) for c in self.copies], "pruned": self.pruned,
            "baked_steps": self.baked_steps, "timings": {k: round(v, 2) for k, v in self.timings.items()},
            **({"layers": self.layers} if self.layers else {}),
        }  # fmt: skip


def _image_json(image: Image) -> dict[str, Any]:
    return {"id": image.id, "name": image.name, "region": image.region, **image.details}


def image_name(profile: str, image_hash: str, now: float) -> str:
    """Unique and sortable: hash, UTC time, and a few random digits for two bakes in one second."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    suffix = f"-{image_hash[:12]}-{stamp}-{uuid.uuid4().hex[:4]}"
    return f"bootstrap-{profile}"[: NAME_LIMIT - len(suffix)].rstrip("-") + suffix


def baked_steps(plan: Plan) -> list[str]:
    return [s.id for s in plan.phase(Phase.FIRST_BOOT) if s.scope == Scope.IMAGE]


def user_data(plan: Plan, backend: Backend) -> tuple[bytes, bytes]:
    """The builder's user data (the bake variant) and the test machine's (the plain one)."""
    from ..targets import Variant, render

    return render(plan, backend.target, variant=Variant.BAKE).data, render(plan, backend.target).data


def _sharing(backend: Backend, options: BakeOptions, events: Events) -> list[Any]:
    """The principals this backend shares with; those it leaves are said before anything is built."""
    cloud = backend.shares if can(backend, Capability.SHARE) else ""
    mine = [p for p in options.share if p.cloud == cloud]
    if others := [p.value for p in options.share if p.cloud != cloud]:
        why = "local images are files on this host" if backend.name == "local" else "for another cloud's backend"
        events.emit("progress", f"not shared with {', '.join(others)}: {why}")
    return mine


def bake(plan: Plan, backend: Backend, options: BakeOptions, events: Events,
         progress: Callable[[str], None] | None = None,
         seen: Callable[[str, str, bytes, GuestReport], None] | None = None) -> BakeResult:  # fmt: skip
    """The steps of steps.py in order, each undoing its own on the way out; errors name the step.
    ``seen`` is told each guest's report as it comes (role, instance id, the user data sent), a failed one too."""
    events = events.for_profile(plan.profile)  # every line says whose it is (rebuild bakes in parallel)
    started = time.monotonic()
    sharing = _sharing(backend, options, events)  # said before any call
    if options.regions:  # refused before any call, not after an hour's build
        as_step("copy", lambda: require(backend, Capability.COPY))
    source = as_step("source", lambda: backend.resolve_source(create=not options.dry_run))
    identity = Identity(plan.profile, plan.image_hash, source.label or source.id)
    result = BakeResult(plan.profile, "planned", identity, source, baked_steps=baked_steps(plan))
    state = BakeState(plan, backend, options, events, result, sharing, progress, seen)
    timings: dict[str, float] = {}
    if run_steps(bake_steps(options), state, timings) is Action.HALT:
        return result  # unchanged, or planned
    timings["total"] = time.monotonic() - started
    result.status, result.timings = "built", timings
    if can(backend, Capability.RECORD) and result.image:  # a manifest beside the image
        test = {"result": result.test.result, "steps": result.test.steps} if result.test else None
        backend.record(result.image, {**result.summary(), "test": test})
    return result
