"""One bake, whatever the backend: source → launch builder → wait → image → test → copy → promote
→ prune, with builder and test machines deleted whatever happens, and a not-yet-promoted image
(and its copies) deleted when a later step fails. Errors name the step that failed.

Copies are made before promotion, so a failed copy leaves nothing half-published.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import console, interrupts
from ..console import GuestReport
from ..errors import BackendError
from ..plan import Phase, Plan, Scope
from ..wording import count
from .backend import (
    TAG_CREATED,
    TAG_DEPRECATED,
    TAG_EXPIRES,
    TAG_HASH,
    TAG_ROLE,
    TAG_SOURCE,
    Backend,
    BakeStepError,
    Identity,
    Image,
    Instance,
    Source,
    tag_value,
)
from .events import Events
from .waiting import WaitTimeout, poll

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

    def summary(self) -> dict[str, Any]:
        return {
            "profile": self.profile, "status": self.status, "image_hash": self.identity.image_hash,
            "source": {"id": self.source.id, "description": self.source.description},
            "image": _image_json(self.image) if self.image else None,
            "copies": [_image_json(c) for c in self.copies], "pruned": self.pruned,
            "baked_steps": self.baked_steps, "timings": {k: round(v, 2) for k, v in self.timings.items()},
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


def judge_relaunch(plan: Plan, report: GuestReport) -> list[str]:
    """An instance of the new image: baked steps skipped, instance and every-boot steps ran."""
    if report.result != "ok":
        failed = f" at step {report.failed_step}" if report.failed_step else ""
        return [f"the test instance ended {report.result}{failed}; last console lines:\n{report.tail()}"]
    status = {s["id"]: s["status"] for s in report.steps}
    problems = []
    for step in plan.ordered:
        want = "baked" if step.phase == Phase.FIRST_BOOT and step.scope == Scope.IMAGE else "ok"
        if status.get(step.id) != want:
            problems.append(f"step {step.id}: expected {want}, got {status.get(step.id, 'nothing')}")
    return problems


def _sharing(backend: Backend, options: BakeOptions, events: Events) -> list[Any]:
    """The principals this backend shares with; those it leaves are said before anything is built."""
    cloud = getattr(backend, "shares", "")
    mine = [p for p in options.share if p.cloud == cloud]
    if others := [p.value for p in options.share if p.cloud != cloud]:
        why = "local images are files on this host" if backend.name == "local" else "for another cloud's backend"
        events.emit("progress", f"not shared with {', '.join(others)}: {why}")
    return mine


def bake(plan: Plan, backend: Backend, options: BakeOptions, events: Events,
         progress: Callable[[str], None] | None = None) -> BakeResult:  # fmt: skip
    from ..targets import Variant, render

    events = events.for_profile(plan.profile)  # every line says whose it is (rebuild bakes in parallel)
    started = time.monotonic()
    timings: dict[str, float] = {}
    sharing = _sharing(backend, options, events)  # said before any call
    source = _step("source", lambda: backend.resolve_source(create=not options.dry_run))
    identity = Identity(plan.profile, plan.image_hash, source.label or source.id)
    result = BakeResult(plan.profile, "planned", identity, source, baked_steps=baked_steps(plan))
    existing = _step("source", lambda: backend.find_image(identity))
    if existing and not options.force:
        events.emit("unchanged", f"{plan.profile}: image {existing.id} already holds image hash "
                    f"{identity.image_hash} built from {source.id}; nothing to do (--force rebuilds)",
                    image=existing.id)  # fmt: skip
        result.status, result.image = "unchanged", existing
        result.copies = _copies_of(backend, identity, existing)  # so that images.json records every region
        return result
    name = image_name(plan.profile, identity.image_hash, time.time())
    # Rendered before the dry run returns: a user data over the target's limit fails the plan, not the bake.
    builder_data = render(plan, backend.target, variant=Variant.BAKE).data
    test_data = render(plan, backend.target).data
    if options.dry_run:
        events.emit("plan", f"{plan.profile}: would launch a {backend.name} builder from {source.description}, "
                    f"bake {count(len(result.baked_steps), 'image-scope step')} "
                    f"({', '.join(result.baked_steps) or 'none'}), "
                    f"create image {name}, {'test it, ' if options.test else ''}"
                    f"{'copy it to ' + ', '.join(options.regions) + ', ' if options.regions else ''}"
                    f"{'share it with ' + ', '.join(p.value for p in sharing) + ', ' if sharing else ''}"
                    f"promote it and keep the newest {options.keep}", image_name=name, source=source.id)  # fmt: skip
        return result

    machines: list[Instance] = []
    made: list[Image] = []
    promoted = False
    step = "launch"

    def launch(role: str, image_id: str, data: bytes) -> Instance:
        tags = {**identity.tags(), TAG_ROLE: role, TAG_EXPIRES: str(int(time.time() + options.lifetime))}
        with interrupts.shielded():  # a signal mid-launch waits until the machine is listed for clean-up
            instance = backend.launch(role, image_id, data, tags)
            machines.append(instance)
        events.emit("launched", f"{role} {instance.id} launched", role=role, instance=instance.id)
        return instance

    def retire(instance: Instance) -> None:
        backend.delete_instance(instance)  # a failed delete stays listed: the final clean-up tries again
        machines.remove(instance)
        events.emit("deleted", f"{instance.role} {instance.id} deleted", instance=instance.id)

    try:
        mark = time.monotonic()
        builder = launch("builder", source.id, builder_data)
        step = "build"
        events.emit("waiting", f"waiting for the builder to bake and seal (up to {options.build_timeout:.0f}s)")
        report = wait_for_guest(backend, builder, ("sealed",), options.build_timeout, progress)
        if report.result != "sealed":
            why = f"step {report.failed_step} failed" if report.result == "failed" else f"it ended {report.result}"
            raise BakeStepError("build", f"the builder did not finish: {why}; last console lines:\n{report.tail()}")
        timings["build"] = time.monotonic() - mark

        step, mark = "image", time.monotonic()
        tags = {**identity.tags(), TAG_ROLE: "image", TAG_CREATED: str(int(time.time()))}
        image = backend.create_image(builder, name, tags)
        made.append(image)
        result.image = image
        events.emit("image", f"image {image.id} created", image=image.id)
        retire(builder)
        timings["image"] = time.monotonic() - mark

        if options.test:
            step, mark = "test", time.monotonic()
            tester = launch("test", image.id, test_data)
            result.test = wait_for_guest(backend, tester, ("ok",), options.test_timeout, progress)
            if problems := judge_relaunch(plan, result.test):
                raise BakeStepError("test", "the new image did not boot as expected: " + "; ".join(problems))
            retire(tester)
            timings["test"] = time.monotonic() - mark
            events.emit("tested", f"image {image.id} tested: baked steps skipped, instance steps ran")

        step, mark = "copy", time.monotonic()
        for region in options.regions:
            copy = backend.copy_image(image, region, tags)
            made.append(copy)
            result.copies.append(copy)
            events.emit("copied", f"copied to {region} as {copy.id}", region=region, image=copy.id)
        timings["copy"] = time.monotonic() - mark

        step = "share"  # after the test, before anyone can find it: a failed share leaves it private, deleted
        for each in [image, *result.copies] if sharing else []:
            backend.share(each, sharing)
            events.emit("shared", f"{each.id}{' in ' + each.region if each.region else ''} shared with "
                        f"{', '.join(p.value for p in sharing)}", image=each.id)  # fmt: skip

        step = "promote"
        for each in [image, *result.copies]:
            backend.promote(each, identity)
        promoted = True
        events.emit("promoted", f"{plan.profile}: {image.id} is now the latest image", image=image.id)

        step = "prune"
        result.pruned = prune(backend, plan.profile, options.keep, {i.id for i in made}, events, options.grace_days)
    except BakeStepError:
        raise
    except BackendError as exc:
        raise BakeStepError(step, str(exc)) from exc
    finally:
        with interrupts.shielded():  # a signal now waits for this: nothing half deleted
            _clean_up(backend, machines, [] if promoted else made, events)
    timings["total"] = time.monotonic() - started
    result.status, result.timings = "built", timings
    if record := getattr(backend, "record", None):  # backends that keep a manifest beside the image
        test = {"result": result.test.result, "steps": result.test.steps} if result.test else None
        record(result.image, {**result.summary(), "test": test})
    return result


HEARTBEAT = 30.0  # seconds of a wait without a word before it says it is still waiting


def wait_for_guest(backend: Backend, instance: Instance, wanted: tuple[str, ...], timeout: float,
                   progress: Callable[[str], None] | None = None) -> GuestReport:  # fmt: skip
    """The waiting policy, once for every backend: a result line among ``wanted`` ends the wait (a
    failure always does), except for a bake ("sealed"), whose disk is final only once the machine has
    also powered off; a machine that stops or goes without a result ends it too; so does ``timeout``."""
    seen = {"text": ""}
    start = said = time.monotonic()

    def check() -> GuestReport | None:
        nonlocal said
        text = backend.console(instance)
        if progress:
            for line in text[len(seen["text"]) :].splitlines():
                if "bootstrap: step" in line or "BOOTSTRAP-RESULT" in line:
                    progress(line.strip())
                    said = time.monotonic()
            if time.monotonic() - said >= HEARTBEAT:  # a long wait is never silent
                last = next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "(nothing yet)")
                progress(f"still waiting for {instance.role} {instance.id} ({time.monotonic() - start:.0f} s); "
                         f"its console says: {last[-200:]}")  # fmt: skip
                said = time.monotonic()
        seen["text"] = text
        found = console.report(text, wanted)
        if found and (found.result == "failed" or "sealed" not in wanted):
            return found
        if console.panic(text) is not None:  # dead: no result will ever come, whatever the machine's state
            return GuestReport("panicked", None, console.steps(text), text)
        state = backend.state(instance)
        if state == "stopped":
            return found or GuestReport("stopped", None, console.steps(text), text)
        if state == "gone":
            return GuestReport("gone", None, console.steps(text), text)
        return None

    try:
        return poll(check, timeout=timeout, what=f"{instance.role} {instance.id}", first=backend.poll_first,
                    maximum=backend.poll_maximum)  # fmt: skip
    except WaitTimeout:
        return GuestReport("timeout", None, console.steps(seen["text"]), seen["text"])


def _copies_of(backend: Backend, identity: Identity, image: Image) -> list[Image]:
    """The images of ``identity`` in the other regions (copies made with ``image``)."""
    return [other for other in backend.list_images(identity.profile)
            if other.region != image.region and tag_value(other, TAG_HASH) == identity.image_hash
            and tag_value(other, TAG_SOURCE) == identity.source]  # fmt: skip


def prune(backend: Backend, profile: str, keep: int, protected: set[str], events: Events,
          grace_days: float = 0, now: float | None = None) -> list[str]:  # fmt: skip
    """Beyond the newest ``keep`` images of a profile in each region (never one just made, never one a
    channel points at): deprecate each, naming the newest as its replacement, and delete it once it has
    been deprecated ``grace_days`` (at once with 0). Returns the images deleted."""
    from .channels import holders

    now = time.time() if now is None else now
    by_region: dict[str, list[Image]] = {}
    found = backend.list_images(profile)
    for image in found:
        by_region.setdefault(image.region, []).append(image)
    held = holders(found)
    pruned = []
    for images in by_region.values():
        images.sort(key=lambda i: i.created, reverse=True)
        for image in images[keep:]:
            if image.id in protected:
                continue
            if image.id in held:
                events.emit("kept", f"old image {image.id} kept: channel {', '.join(held[image.id])} points at it",
                            image=image.id)  # fmt: skip
                continue
            since = deprecated_at(image)
            if grace_days > 0 and since is None:
                backend.deprecate(image, images[0], now)
                events.emit("deprecated", f"old image {image.id} deprecated (replaced by {images[0].id}); deleted "
                            f"after {grace_days:g} days", image=image.id, region=image.region)  # fmt: skip
                continue
            if grace_days > 0 and since is not None and now - since < grace_days * 86400:
                continue
            backend.delete_image(image)
            pruned.append(image.id)
            events.emit("pruned", f"old image {image.id} deleted", image=image.id, region=image.region)
    return pruned


def deprecated_at(image: Image) -> float | None:
    """When prune deprecated ``image`` (its tag, or GCE label), or None."""
    value = tag_value(image, TAG_DEPRECATED)
    return float(value) if value.isdigit() else None


def _clean_up(backend: Backend, machines: list[Instance], images: list[Image], events: Events) -> None:
    """Best effort, every item tried: a failure to delete one must not leak the others."""
    for instance in list(machines):
        try:
            backend.delete_instance(instance)
            events.emit("deleted", f"{instance.role} {instance.id} deleted", instance=instance.id)
        except Exception as exc:
            events.emit("cleanup-failed", f"could not delete {instance.role} {instance.id}: {exc}",
                        instance=instance.id)  # fmt: skip
    for image in reversed(images):
        try:
            backend.delete_image(image)
            events.emit("deleted", f"unpublished image {image.id} deleted", image=image.id)
        except Exception as exc:
            events.emit("cleanup-failed", f"could not delete image {image.id}: {exc}", image=image.id)


def _step(name: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except BakeStepError:
        raise
    except BackendError as exc:
        raise BakeStepError(name, str(exc)) from exc
