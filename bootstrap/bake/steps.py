"""The steps of one bake: source, render, launch, build, image, test, copy, share, promote, prune.

Each owns its clean-up (multistep.py): the launch and test steps their machines, while not yet
retired; the image and copy steps their images, while not yet promoted. So whatever fails, or
whichever signal comes, no machine is left and no image that was not promoted survives, and a
promoted image is never deleted (a failed prune keeps it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import interrupts
from ..console import GuestReport
from ..judge import judge_relaunch
from ..layers import Chain, image_layers
from ..plan import Plan
from ..wording import count
from .backend import (
    ROLE_LAYER,
    TAG_CREATED,
    TAG_EXPIRES,
    TAG_HASH,
    TAG_LAYER_BORN,
    TAG_LAYER_INDEX,
    TAG_LAYER_KEY,
    TAG_ROLE,
    TAG_SOURCE,
    Backend,
    BakeStepError,
    Capability,
    Image,
    Instance,
    can,
    tag_value,
)
from .events import Events
from .multistep import Action, Step
from .pruning import prune, prune_layers
from .waiting import wait_for_guest

if TYPE_CHECKING:
    from .lifecycle import BakeOptions, BakeResult


@dataclass
class BakeState:
    plan: Plan
    backend: Backend
    options: BakeOptions
    events: Events
    result: BakeResult
    sharing: list[Any]  # the principals of this backend's cloud
    progress: Callable[[str], None] | None = None
    seen: Callable[[str, str, bytes, GuestReport], None] | None = None  # each guest's report (role, id, sent)
    name: str = ""  # the new image's
    builder_data: bytes = b""
    test_data: bytes = b""
    chain: Chain | None = None  # the image's layers (layers.py), where the backend keeps layers
    start: Image | None = None  # the deepest cached layer of the chain, which the builder boots from
    reused: int = 0  # layers 1..reused come from ``start``
    born: float = 0.0  # when the oldest of ``start``'s layers was made (0: none reused)
    machines: dict[str, Instance] = field(default_factory=dict)  # by role: launched, not yet deleted
    made: list[Image] = field(default_factory=list)  # the image and its copies
    promoted: bool = False  # every one of them
    published: set[str] = field(default_factory=set)  # ids of those promoted so far: a channel names each

    def launch(self, role: str, image_id: str, data: bytes) -> Instance:
        tags = {**self.result.identity.tags(), TAG_ROLE: role,
                TAG_EXPIRES: str(int(time.time() + self.options.lifetime))}  # fmt: skip
        with interrupts.shielded():  # a signal mid-launch waits until the machine is listed for clean-up
            instance = self.backend.launch(role, image_id, data, tags)
            self.machines[role] = instance
        self.events.emit("launched", f"{role} {instance.id} launched", role=role, instance=instance.id)
        return instance

    def wait(self, role: str, wanted: tuple[str, ...], timeout: float, sent: bytes,
             watch: Callable[[str], None] | None = None) -> GuestReport:  # fmt: skip
        """The guest's report, told to ``seen`` whatever it says (a boot report keeps a failed one too)."""
        instance = self.machines[role]
        report = wait_for_guest(self.backend, instance, wanted, timeout, self.progress, watch=watch)
        if self.seen:
            self.seen(role, instance.id, sent, report)
        return report

    def retire(self, role: str) -> None:
        instance = self.machines[role]
        self.backend.delete_instance(instance)  # a failed delete stays listed: its step's clean-up tries again
        del self.machines[role]
        self.events.emit("deleted", f"{instance.role} {instance.id} deleted", instance=instance.id)

    def clean_machine(self, role: str) -> None:
        """Best effort: a machine that cannot be deleted is said (reap removes it by its expiry tag)."""
        instance = self.machines.pop(role, None)
        if instance is None:
            return
        try:
            self.backend.delete_instance(instance)
            self.events.emit("deleted", f"{instance.role} {instance.id} deleted", instance=instance.id)
        except Exception as exc:
            self.events.emit("cleanup-failed", f"could not delete {instance.role} {instance.id}: {exc}",
                             instance=instance.id)  # fmt: skip

    def clean_images(self, images: list[Image]) -> None:
        """Delete ``images`` (newest first) unless promoted; each one tried, whatever the others do. One whose
        own promotion finished stays even when another's failed: its region's latest names it now."""
        for image in [] if self.promoted else reversed(images):
            if image.id in self.published:
                self.events.emit("kept", f"image {image.id} kept: latest{' in ' + image.region if image.region else ''}"
                                 " points at it", image=image.id)  # fmt: skip
                continue
            try:
                self.backend.delete_image(image)
                self.events.emit("deleted", f"unpublished image {image.id} deleted", image=image.id)
            except Exception as exc:
                self.events.emit("cleanup-failed", f"could not delete image {image.id}: {exc}", image=image.id)

    def image_tags(self) -> dict[str, str]:
        return {**self.result.identity.tags(), TAG_ROLE: "image", TAG_CREATED: str(int(time.time()))}


class FindSource(Step[BakeState]):
    """The source image, and an image of this identity already promoted: then nothing to do."""

    name = "source"

    def run(self, state: BakeState) -> Action:
        result, options = state.result, state.options
        existing = state.backend.find_image(result.identity)
        if not existing or options.force:
            return Action.CONTINUE
        state.events.emit("unchanged", f"{state.plan.profile}: image {existing.id} already holds image hash "
                          f"{result.identity.image_hash} built from {result.source.id}; nothing to do "
                          "(--force rebuilds)", image=existing.id)  # fmt: skip
        result.status, result.image = "unchanged", existing
        result.copies = _copies_of(state.backend, result, existing)  # so that images.json records every region
        return Action.HALT


class FindLayers(Step[BakeState]):
    """The deepest layer of the image's chain (layers.py) that the backend still holds, younger than
    --max-age: the builder starts from it and runs only the steps after it. --refresh: none."""

    name = "layers"

    def run(self, state: BakeState) -> Action:
        backend, options = state.backend, state.options
        if not can(backend, Capability.LAYERS):
            return Action.CONTINUE
        chain = state.chain = image_layers(state.plan, state.result.source.id, backend.layer_inputs())
        layers = chain.layers
        if not layers:
            return Action.CONTINUE
        born_after = time.time() - options.max_age_days * 86400
        for layer in () if options.refresh else reversed(layers):
            if found := backend.find_layer(layer.key, born_after):
                state.start, state.reused = found, layer.index
                state.born = float(tag_value(found, TAG_LAYER_BORN) or 0)
                break
        state.result.layers = {"total": len(layers), "reused": state.reused,
                               "from": state.start.id if state.start else None, "made": []}  # fmt: skip
        state.events.emit("layers", layer_summary(chain, state.reused, options.refresh), reused=state.reused,
                          total=len(layers), layer=state.start.id if state.start else None)  # fmt: skip
        return Action.CONTINUE


def layer_summary(chain: Chain, reused: int, refresh: bool = False) -> str:
    """'reused layers 1-4 of 6 (packages, nvidia, users, conda), rebuilding from file-etc-motd'."""
    layers, total = chain.layers, len(chain.layers)
    if reused == total:
        return f"reused every layer (1-{total} of {total}: {', '.join(la.name for la in layers)}); nothing to rebuild"
    rest = layers[reused:]
    if not reused:
        why = "--refresh: the cache ignored" if refresh else "no cached layer"
        return f"{why}; building {count(total, 'layer')} ({', '.join(la.name for la in rest)})"
    span = "layer 1" if reused == 1 else f"layers 1-{reused}"
    return (f"reused {span} of {total} ({', '.join(la.name for la in layers[:reused])}), rebuilding from "
            f"{rest[0].steps[0]}")  # fmt: skip


class Render(Step[BakeState]):
    """The builder's and the test machine's user data, rendered before a dry run returns: a user data
    over the target's limit fails the plan, not the bake."""

    name = "render"

    def run(self, state: BakeState) -> Action:
        from .lifecycle import image_name, user_data

        plan, options, result = state.plan, state.options, state.result
        state.name = image_name(plan.profile, result.identity.image_hash, time.time())
        state.builder_data, state.test_data = user_data(plan, state.backend)
        if not options.dry_run:
            return Action.CONTINUE
        sharing = state.sharing
        state.events.emit("plan", f"{plan.profile}: would launch a {state.backend.name} builder from "
                          f"{result.source.description}, bake {count(len(result.baked_steps), 'image-scope step')} "
                          f"({', '.join(result.baked_steps) or 'none'}), "
                          f"create image {state.name}, {'test it, ' if options.test else ''}"
                          f"{'copy it to ' + ', '.join(options.regions) + ', ' if options.regions else ''}"
                          f"{'share it with ' + ', '.join(p.value for p in sharing) + ', ' if sharing else ''}"
                          f"promote it and keep the newest {options.keep}", image_name=state.name,
                          source=result.source.id)  # fmt: skip
        return Action.HALT


class Launch(Step[BakeState]):
    name, timing = "launch", "build"

    def run(self, state: BakeState) -> Action:
        state.launch("builder", state.start.id if state.start else state.result.source.id, state.builder_data)
        return Action.CONTINUE

    def cleanup(self, state: BakeState) -> None:
        state.clean_machine("builder")


class Build(Step[BakeState]):
    """The builder bakes the image-scope steps, seals and powers off."""

    name, timing = "build", "build"

    def run(self, state: BakeState) -> Action:
        timeout = state.options.build_timeout
        state.events.emit("waiting", f"waiting for the builder to bake and seal (up to {timeout:.0f}s)")
        builder = state.machines["builder"]
        report = state.wait("builder", ("sealed",), timeout, state.builder_data,
                            watch=lambda text: _keep_layers(state, builder, text))  # fmt: skip
        if report.result != "sealed":
            why = f"step {report.failed_step} failed" if report.result == "failed" else f"it ended {report.result}"
            raise BakeStepError("build", f"the builder did not finish: {why}; last console lines:\n{report.tail()}")
        return Action.CONTINUE


def _keep_layers(state: BakeState, builder: Instance, text: str) -> None:
    """Each layer point the builder's console shows that was not kept yet: a layer, tagged with its key.
    A layer that could not be made fails the bake (its runner would wait for a word that never comes)."""
    chain = state.chain
    if chain is None:
        return
    kept = state.result.layers.setdefault("made", [])
    for index in state.backend.layer_points(builder, text):
        if index <= state.reused + len(kept):  # kept already, or in the layer the builder started from
            continue
        if index != state.reused + len(kept) + 1 or index > len(chain.layers):
            raise BakeStepError("build", f"the builder reached layer point {index}, but layer "
                                f"{state.reused + len(kept) + 1} of {len(chain.layers)} was next")  # fmt: skip
        layer = chain.layers[index - 1]
        now = time.time()
        state.born = state.born or now
        tags = {**state.result.identity.tags(), TAG_ROLE: ROLE_LAYER, TAG_LAYER_KEY: layer.key,
                TAG_LAYER_INDEX: str(index), TAG_LAYER_BORN: str(int(state.born)), TAG_CREATED: str(int(now))}
        made = state.backend.make_layer(builder, tags)
        kept.append(made.id)
        state.events.emit("layer", f"layer {index} of {len(chain.layers)} ({layer.name}) kept as {made.id}",
                          layer=made.id, index=index)  # fmt: skip


class CreateImage(Step[BakeState]):
    name, timing = "image", "image"

    def run(self, state: BakeState) -> Action:
        image = state.backend.create_image(state.machines["builder"], state.name, state.image_tags())
        state.made.append(image)
        state.result.image = image
        state.events.emit("image", f"image {image.id} created", image=image.id)
        state.retire("builder")
        return Action.CONTINUE

    def cleanup(self, state: BakeState) -> None:
        state.clean_images(state.made[:1])


class Test(Step[BakeState]):
    """An instance of the new image: baked steps skipped, instance and every-boot steps ran."""

    name, timing = "test", "test"

    def run(self, state: BakeState) -> Action:
        image = state.result.image
        assert image is not None
        state.launch("test", image.id, state.test_data)
        state.result.test = state.wait("test", ("ok",), state.options.test_timeout, state.test_data)
        if problems := judge_relaunch(state.plan, state.result.test):
            raise BakeStepError("test", "the new image did not boot as expected: " + "; ".join(problems))
        state.retire("test")
        state.events.emit("tested", f"image {image.id} tested: baked steps skipped, instance steps ran")
        return Action.CONTINUE

    def cleanup(self, state: BakeState) -> None:
        state.clean_machine("test")


class Copy(Step[BakeState]):
    """Copies before promotion: a failed copy leaves nothing half-published."""

    name, timing = "copy", "copy"

    def run(self, state: BakeState) -> Action:
        image = state.result.image
        assert image is not None
        for region in state.options.regions:
            copy = state.backend.copy_image(image, region, state.image_tags())
            state.made.append(copy)
            state.result.copies.append(copy)
            state.events.emit("copied", f"copied to {region} as {copy.id}", region=region, image=copy.id)
        return Action.CONTINUE

    def cleanup(self, state: BakeState) -> None:
        state.clean_images(state.made[1:])


class Share(Step[BakeState]):
    """After the test, before anyone can find it: a failed share leaves it private, and deleted."""

    name = "share"

    def run(self, state: BakeState) -> Action:
        for each in _published(state) if state.sharing else []:
            state.backend.share(each, state.sharing)
            state.events.emit("shared", f"{each.id}{' in ' + each.region if each.region else ''} shared with "
                              f"{', '.join(p.value for p in state.sharing)}", image=each.id)  # fmt: skip
        return Action.CONTINUE


class Promote(Step[BakeState]):
    """The image and its copies become latest; from here on, nothing of it is deleted."""

    name = "promote"

    def run(self, state: BakeState) -> Action:
        for each in _published(state):
            with interrupts.shielded():  # a signal waits until a promotion done is recorded as done
                state.backend.promote(each, state.result.identity)
                state.published.add(each.id)
        state.promoted = True
        image = state.made[0]
        state.events.emit("promoted", f"{state.plan.profile}: {image.id} is now the latest image", image=image.id)
        return Action.CONTINUE


class Prune(Step[BakeState]):
    name = "prune"

    def run(self, state: BakeState) -> Action:
        options = state.options
        state.result.pruned = prune(state.backend, state.plan.profile, options.keep, {i.id for i in state.made},
                                    state.events, options.grace_days)  # fmt: skip
        if state.chain is not None:
            needed = {layer.key for layer in state.chain.layers}
            state.result.pruned += prune_layers(state.backend, state.plan.profile, needed, state.events,
                                                options.grace_days, options.max_age_days)  # fmt: skip
        return Action.CONTINUE


def bake_steps(options: BakeOptions) -> list[Step[BakeState]]:
    """The bake, in order (the test only where asked for)."""
    tested: list[Step[BakeState]] = [Test()] if options.test else []
    return [FindSource(), FindLayers(), Render(), Launch(), Build(), CreateImage(), *tested, Copy(), Share(),
            Promote(), Prune()]  # fmt: skip


def _published(state: BakeState) -> list[Image]:
    return list(state.made)  # the image, then its copies


def _copies_of(backend: Backend, result: BakeResult, image: Image) -> list[Image]:
    """The images of this identity in the other regions (copies made with ``image``)."""
    identity = result.identity
    return [other for other in backend.list_images(identity.profile)
            if other.region != image.region and tag_value(other, TAG_HASH) == identity.image_hash
            and tag_value(other, TAG_SOURCE) == identity.source]  # fmt: skip
