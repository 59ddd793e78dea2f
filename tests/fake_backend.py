"""An in-memory backend: the lifecycle's whole fault table runs against it in milliseconds.

It answers the primitive calls the way a cloud would (machines, images in regions, tags, promotion,
channels, deprecation) and lets a test make any primitive fail (``faults``, optionally per role:
``"launch:test"``) or any guest misbehave (``behaviour``: ``ok``, ``fail:STEP``, ``silent``,
``no-poweroff``, ``vanishes``, ``panics``).

Channels as each cloud keeps them (``spelling``): ``ec2`` tags an image ``bootstrap:channel:NAME`` and
moves a name per region (its SSM parameter) that launches read; ``gce`` labels it
``bootstrap-channel-NAME``, one holder per label, the former holder's label renamed
``bootstrap-channel-was-NAME`` (images are global: no copies). ``launched_from`` answers what a user
launching from a channel gets. tests/test_image_contract.py holds this fake, moto and the Compute API
stand-in to the same behaviour; the moto and stand-in tests keep only what is specific to each API.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from bootstrap.bake.backend import (
    CHANNEL_PREFIX,
    CHANNEL_WAS,
    OWNER,
    TAG_DEPRECATED,
    TAG_OWNER,
    TAG_PROFILE,
    TAG_PROMOTED,
    TAG_ROLE,
    Backend,
    BackendError,
    Capability,
    Identity,
    Image,
    Instance,
    Source,
)
from bootstrap.plan import Phase, Plan, Scope


class FakeBackend(Backend):
    name = "fake"
    capabilities = frozenset({Capability.COPY, Capability.CHANNELS, Capability.DEPRECATE})  # no sharing or manifest
    target = "cloud-init"
    poll_first, poll_maximum = 0.001, 0.01

    def __init__(self, plan: Plan, spelling: str = "ec2", region: str = "r1"):
        self.plan = plan
        self.spelling = spelling  # ec2: tags with ':'; gce: labels with '-', one holder per channel label
        self.region = "" if spelling == "gce" else region  # GCE images are global
        self.instances: dict[str, Instance] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.images: dict[str, Image] = {}
        self.names: dict[tuple[str, str, str], str] = {}  # (region, profile, channel) -> image id (ec2: SSM)
        self.faults: dict[str, BaseException] = {}
        self.behaviour: dict[str, str] = {"builder": "ok", "test": "ok"}
        self.calls: list[str] = []
        self._ids = itertools.count(1)
        self._clock = itertools.count(1)  # image creation times and channel marks, strictly increasing

    def _call(self, name: str, role: str = "") -> None:
        self.calls.append(f"{name}:{role}" if role else name)
        fault = self.faults.get(f"{name}:{role}") or self.faults.get(name)
        if fault is not None:
            raise fault

    # -- the primitives ---------------------------------------------------------------------
    def resolve_source(self, create: bool = True) -> Source:
        self._call("resolve_source")
        return Source("src-1", "the fake source image")

    def key(self, tag: str) -> str:
        """A tag's key as this cloud spells it (GCE labels have no ':')."""
        return tag.replace(":", "-") if self.spelling == "gce" else tag

    def _spelt(self, tags: dict[str, str]) -> dict[str, str]:
        return {self.key(k): v for k, v in tags.items()}

    def find_image(self, identity: Identity) -> Image | None:
        self._call("find_image")
        wanted = self._spelt(identity.tags()).items()
        found = [i for i in self.images.values() if i.region == self.region
                 and wanted <= i.details["tags"].items() and self.key(TAG_PROMOTED) in i.details["tags"]]  # fmt: skip
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
        image = Image(f"img-{next(self._ids)}", name, self.region, float(next(self._clock)),
                      {"tags": self._spelt(tags)})  # fmt: skip
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
        if self.spelling == "gce":
            raise BackendError("images are global: there is nothing to copy to another region")
        copy = Image(f"img-{next(self._ids)}", image.name, region, image.created, {"tags": self._spelt(tags)})
        self.images[copy.id] = copy
        return copy

    def promote(self, image: Image, identity: Identity) -> None:
        self._call("promote", image.region)  # a fault "promote:REGION" fails one region's
        self._tag(image, TAG_PROMOTED, str(next(self._clock)))
        self.point_channel(image, identity.profile, "latest")

    def point_channel(self, image: Image, profile: str, channel: str) -> None:
        self._call("point_channel")
        key = self.key(CHANNEL_PREFIX + channel)
        if self.spelling == "gce":  # the label is the name: its former holder keeps was-CHANNEL
            self.list_images(profile)  # as GCE's backend does, to find the former holders (faults apply)
            for former in [i for i in self.images.values() if i.details["tags"].get(self.key(TAG_PROFILE)) == profile]:
                tags = former.details["tags"]
                if key in tags and former.id != image.id:
                    tags[self.key(CHANNEL_PREFIX + CHANNEL_WAS + channel)] = tags.pop(key)
            self.images[image.id].details["tags"].pop(self.key(CHANNEL_PREFIX + CHANNEL_WAS + channel), None)
        self._tag(image, CHANNEL_PREFIX + channel, str(next(self._clock)))
        self.names[image.region, profile, channel] = image.id

    def launched_from(self, profile: str, channel: str, region: str | None = None) -> str | None:
        """The image a user launching from ``channel`` gets: the name (ec2), the one labelled image (gce)."""
        if self.spelling == "gce":
            key = self.key(CHANNEL_PREFIX + channel)
            holding = [i.id for i in self.images.values() if key in i.details["tags"]]
            assert len(holding) <= 1, f"{channel} labels {holding}: one holder per label"
            return holding[0] if holding else None
        return self.names.get((self.region if region is None else region, profile, channel))

    def deprecate(self, image: Image, replacement: Image, now: float) -> None:
        self._call("deprecate")
        self.images[image.id].details["deprecated"] = {"replacement": replacement.id, "at": now}
        self._tag(image, TAG_DEPRECATED, str(int(now)))

    def _tag(self, image: Image, tag: str, value: str) -> None:
        """Tags change on the cloud's image; the ``Image`` a caller holds is a snapshot, as a cloud's answer is."""
        self.images[image.id].details["tags"][self.key(tag)] = value

    def list_images(self, profile: str) -> list[Image]:
        self._call("list_images")
        mine = self._spelt({TAG_OWNER: OWNER, TAG_PROFILE: profile, TAG_ROLE: "image"}).items()
        return [Image(i.id, i.name, i.region, i.created, {**i.details, "tags": dict(i.details["tags"])})
                for i in self.images.values() if mine <= i.details["tags"].items()]  # fmt: skip

    def reap(self, now: float, dry_run: bool = False, warn: Callable[[str], None] = print,
             pending: Callable[[str, float], None] | None = None) -> list[str]:  # fmt: skip
        self._call("reap")
        return []

    # -- what tests look at -----------------------------------------------------------------
    def unpromoted(self) -> list[str]:
        return sorted(i for i, image in self.images.items() if self.key(TAG_PROMOTED) not in image.details["tags"])
