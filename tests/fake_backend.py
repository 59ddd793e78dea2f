"""An in-memory backend: the lifecycle's whole fault table runs against it in milliseconds.

It answers the primitive calls the way a cloud would (machines, images, tags, promotion) and
lets a test make any primitive fail (``faults``, optionally per role: ``"launch:test"``) or any
guest misbehave (``behaviour``: ``ok``, ``fail:STEP``, ``silent``, ``no-poweroff``, ``vanishes``).
The moto and Compute API stand-in tests keep only what is specific to each cloud's API.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from bootstrap.bake.backend import (
    OWNER,
    TAG_DEPRECATED,
    TAG_OWNER,
    TAG_PROFILE,
    TAG_ROLE,
    Backend,
    Capability,
    Identity,
    Image,
    Instance,
    Source,
)
from bootstrap.plan import Phase, Plan, Scope


class FakeBackend(Backend):
    name = "fake"
    capabilities = frozenset({Capability.COPY, Capability.DEPRECATE})  # no channels, sharing or manifest
    target = "cloud-init"
    poll_first, poll_maximum = 0.001, 0.01

    def __init__(self, plan: Plan):
        self.plan = plan
        self.instances: dict[str, Instance] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.images: dict[str, Image] = {}
        self.faults: dict[str, BaseException] = {}
        self.behaviour: dict[str, str] = {"builder": "ok", "test": "ok"}
        self.calls: list[str] = []
        self._ids = itertools.count(1)

    def _call(self, name: str, role: str = "") -> None:
        self.calls.append(f"{name}:{role}" if role else name)
        fault = self.faults.get(f"{name}:{role}") or self.faults.get(name)
        if fault is not None:
            raise fault

    # -- the primitives ---------------------------------------------------------------------
    def resolve_source(self, create: bool = True) -> Source:
        self._call("resolve_source")
        return Source("src-1", "the fake source image")

    def find_image(self, identity: Identity) -> Image | None:
        self._call("find_image")
        wanted = identity.tags().items()
        found = [i for i in self.images.values() if wanted <= i.details["tags"].items() and i.details.get("promoted")]
        return max(found, key=lambda i: i.created, default=None)

    def launch(self, role: str, source: str, user_data: bytes, tags: dict[str, str]) -> Instance:
        self._call("launch", role)
        instance = Instance(f"i-{next(self._ids)}", role)
        self.instances[instance.id] = instance
        self.tags[instance.id] = tags
        return instance

    def console(self, instance: Instance) -> str:
        """What the runner would print: step lines, then its result line."""
        self._call("console", instance.role)
        behaviour = self.behaviour[instance.role]
        if behaviour == "silent":
            return "the guest says nothing of bootstrap\n"
        if behaviour.startswith("fail:"):
            return f"BOOTSTRAP-RESULT failed {behaviour[5:]}\n"
        if behaviour == "vanishes":
            return ""
        if behaviour == "panics":  # the kernel died; the machine (a cloud's) still runs, saying nothing more
            return "Loading initial ramdisk\nVFS: Cannot open root device\nKernel panic - not syncing: VFS: Unable " \
                   "to mount root fs on unknown-block(0,0)\n"
        if instance.role == "builder":  # ok, or sealed but never powering off
            return "BOOTSTRAP-RESULT sealed -\n"
        lines = [f"bootstrap: step {s.id} ({s.phase.value}, {s.scope.value}): "
                 + ("baked into this image" if s.phase == Phase.FIRST_BOOT and s.scope == Scope.IMAGE else "ok in 1ms")
                 for s in self.plan.ordered]  # fmt: skip
        return "\n".join([*lines, "BOOTSTRAP-RESULT ok -", ""])

    def state(self, instance: Instance) -> str:
        self._call("state", instance.role)
        if instance.id not in self.instances or self.behaviour[instance.role] == "vanishes":
            return "gone"
        sealed = instance.role == "builder" and self.behaviour["builder"] == "ok"
        return "stopped" if sealed else "running"  # a sealed builder powers itself off

    def create_image(self, instance: Instance, name: str, tags: dict[str, str]) -> Image:
        self._call("create_image")
        image = Image(f"img-{next(self._ids)}", name, "", float(len(self.images) + 1), {"tags": dict(tags)})
        self.images[image.id] = image
        return image

    def delete_instance(self, instance: Instance) -> None:
        self._call("delete_instance", instance.role)
        self.instances.pop(instance.id, None)

    def delete_image(self, image: Image) -> None:
        self._call("delete_image")
        self.images.pop(image.id, None)

    def copy_image(self, image: Image, region: str, tags: dict[str, str]) -> Image:
        self._call("copy_image")
        copy = Image(f"img-{next(self._ids)}", image.name, region, image.created, {"tags": dict(tags)})
        self.images[copy.id] = copy
        return copy

    def promote(self, image: Image, identity: Identity) -> None:
        self._call("promote")
        self.images[image.id].details["promoted"] = True

    def deprecate(self, image: Image, replacement: Image, now: float) -> None:
        self._call("deprecate")
        self.images[image.id].details["tags"][TAG_DEPRECATED] = str(int(now))

    def list_images(self, profile: str) -> list[Image]:
        self._call("list_images")
        mine = {TAG_OWNER: OWNER, TAG_PROFILE: profile, TAG_ROLE: "image"}.items()
        return [i for i in self.images.values() if mine <= i.details["tags"].items()]

    def reap(self, now: float, dry_run: bool = False, warn: Callable[[str], None] = print,
             pending: Callable[[str, float], None] | None = None) -> list[str]:  # fmt: skip
        self._call("reap")
        return []

    # -- what tests look at -----------------------------------------------------------------
    def unpromoted(self) -> list[str]:
        return sorted(i for i, image in self.images.items() if not image.details.get("promoted"))
