"""The primitive calls a bake backend answers. The lifecycle owns order, waiting policy, cleanup.

Names shared by every backend: an image is identified by its profile, the content hash of its
image-scope steps and the source image it was built from. Tags carry these (GCE labels spell
them with '-' instead of ':'); builder and test machines also carry a role and an expiry time
so that ``bootstrap reap`` can remove what a killed run left behind.
"""

from __future__ import annotations

import enum
import math
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import BackendError

TAG_OWNER = "bootstrap:owner"  # set on everything bootstrap creates; reap and prune touch nothing without it
OWNER = "bootstrap"
TAG_PROFILE = "bootstrap:profile"
TAG_HASH = "bootstrap:image-hash"
TAG_SOURCE = "bootstrap:source"
TAG_ROLE = "bootstrap:role"  # builder, test, image, layer
TAG_EXPIRES = "bootstrap:expires"  # unix time after which reap may delete a machine
TAG_CREATED = "bootstrap:created"
TAG_DEPRECATED = "bootstrap:deprecated"  # unix time prune deprecated an image; deleted after the grace period
TAG_COPIES = "bootstrap:copies"  # on an image: the regions it was copied to, space-separated (images finds them)
TAG_PROMOTED = "bootstrap:promoted"  # an image that passed its test and was published: only these count as built
MACHINE_ROLES = ("builder", "test")
# A layer (layers.py): an image of a builder's disk at a layer's end, found again by its key. GCE labels
# keep the key's first 63 characters, as every label value. Born: when the oldest layer under it was made,
# so that a layer's age (--max-age) counts from the oldest packages it holds.
ROLE_LAYER = "layer"
TAG_LAYER_KEY = "bootstrap:layer-key"
TAG_LAYER_INDEX = "bootstrap:layer-index"
TAG_LAYER_BORN = "bootstrap:layer-born"
LAYER_POINT = re.compile(r"^BOOTSTRAP-LAYER (\d+)\s*$", re.MULTILINE)  # the runner's layer_point, on a console
# A cloud builder's runner waits at a layer point until its instance's own tag (EC2) or metadata (GCE) of
# this name holds the layer's index: the host sets it once the layer's disk is kept (runner.sh.j2).
LAYER_WORD = "bootstrap-layer"
# A channel (latest, stable...) is a stable name users launch from. Each image that was ever pointed at
# one carries this tag, valued with when (ns): the newest holds the channel, the ones before are its
# history (`images rollback`). GCE labels spell it bootstrap-channel-NAME.
CHANNEL_PREFIX = "bootstrap:channel:"
CHANNEL_PATTERN = r"(?!was-)[a-z][a-z0-9-]{0,29}"
CHANNEL_WAS = "was-"


@dataclass(frozen=True)
class Source:
    id: str  # what the backend boots: an AMI id, a GCE image path, a local base image
    description: str
    label: str = ""  # how tags name it, where the id does not fit a tag value (GCE: the image name)


@dataclass(frozen=True)
class Identity:
    profile: str
    image_hash: str
    source: str

    def tags(self) -> dict[str, str]:
        return {TAG_OWNER: OWNER, TAG_PROFILE: self.profile, TAG_HASH: self.image_hash, TAG_SOURCE: self.source}


@dataclass
class Instance:
    id: str
    role: str
    region: str = ""
    handle: Any = None  # the backend's own object (a local QEMU machine)


@dataclass
class Image:
    id: str
    name: str
    region: str = ""
    created: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)  # snapshots, sizes, paths


def tag_value(image: Image, key: str) -> str:
    """One of ``image``'s tags by our name, read from details["tags"] (GCE labels spell ':' as '-'); ''."""
    tags = image.details.get("tags", {})
    return str(tags.get(key) or tags.get(key.replace(":", "-")) or "")


def layer_name(tags: dict[str, str]) -> str:
    """A cloud layer's image name: its index and key's start, random digits for two bakes making it at
    once (each keeps its own). Fits EC2's AMI names and GCE's 63-character image names."""
    return f"bootstrap-layer-{tags.get(TAG_LAYER_INDEX, '0')}-{tags.get(TAG_LAYER_KEY, '')[:24]}-{uuid.uuid4().hex[:8]}"


def layer_born(image: Image) -> float:
    """When the oldest part of a layer was made (its TAG_LAYER_BORN), 0 where it says nothing readable."""
    value = tag_value(image, TAG_LAYER_BORN)
    return float(value) if value.isdigit() else 0.0


def channel_marks(image: Image) -> dict[str, int]:
    """channel -> when ``image`` was pointed at it, from its tags (or GCE labels) in details["tags"]."""
    marks: dict[str, int] = {}
    for key, value in image.details.get("tags", {}).items():
        for prefix in (CHANNEL_PREFIX, CHANNEL_PREFIX.replace(":", "-")):
            if key.startswith(prefix) and str(value).isdigit():
                # GCE: the label of a channel's former holder is renamed was-CHANNEL (one holder per label)
                name = key.removeprefix(prefix).removeprefix(CHANNEL_WAS)
                marks[name] = max(marks.get(name, 0), int(value))
    return marks


Pending = Callable[[str, float], None]  # (machine, when it may be reaped): one of ours, not yet due


def reap_verdict(tags: dict[str, str], now: float, name: str,
                 pending: Pending | None = None) -> tuple[bool, str | None]:  # fmt: skip
    """(reap it?, warning) for a machine with these tags: only bootstrap's own builder and test
    machines (ownership tag and role), and only once their expiry time has passed. A missing or
    malformed expiry keeps the machine and says so; one of ours not yet due is told to ``pending``."""
    if tags.get(TAG_OWNER) != OWNER or tags.get(TAG_ROLE) not in MACHINE_ROLES:
        return False, None
    raw = tags.get(TAG_EXPIRES)
    try:
        expires = float(raw)  # type: ignore[arg-type]
        if not math.isfinite(expires):
            raise ValueError(raw)
    except (TypeError, ValueError):
        return (
            False,
            f"{name}: kept, its {TAG_EXPIRES} tag {raw!r} is not a unix time; delete it by hand if it is a leftover",
        )
    if expires > now and pending is not None:
        pending(name, expires)
    return expires <= now, None


class BakeStepError(BackendError):
    """A bake failed at a named lifecycle step; the message says which and why."""

    def __init__(self, step: str, message: str):
        super().__init__(f"bake failed at step {step}: {message}")
        self.step = step


class LayerInUse(BackendError):
    """delete_image of a layer some machine reads now (its backing chain): prune keeps it for a later run."""


class Capability(enum.Enum):
    """What a backend may do beyond the primitives every one answers. A backend declares its own in
    ``capabilities``; the lifecycle and the CLI ask before calling, and a refusal is worded once (below)."""

    CHANNELS = "channels"  # point_channel: names users launch from (SSM parameters, labels, symlinks)
    DEPRECATE = "deprecate"  # the cloud's own deprecation, which prune's grace period counts from
    SHARE = "share"  # let principals of its cloud (``shares``) launch an image; shared_with
    COPY = "copy"  # copy_image to other regions
    RECORD = "record"  # a manifest beside each image, which the lifecycle adds its findings to
    LAYERS = "layers"  # keeps a builder's disk at each layer's end (layers.py), and launches builders from one


REFUSALS = {
    Capability.CHANNELS: "the {name} backend has no channels",
    Capability.DEPRECATE: "the {name} backend cannot deprecate images: prune with --grace 0",
    Capability.SHARE: "the {name} backend cannot share images yet",
    Capability.COPY: "the {name} backend has no other regions to copy images to",
    Capability.RECORD: "the {name} backend keeps no manifest beside its images",
    Capability.LAYERS: "the {name} backend keeps no layers: every bake builds from the source image",
}


class Unsupported(BackendError):
    """A backend was asked for a capability it does not declare. CLI exit 3, as any backend failure."""

    def __init__(self, backend: str, capability: Capability, why: str = ""):
        super().__init__(REFUSALS[capability].format(name=backend) + (f" ({why})" if why else ""))
        self.capability = capability


def can(backend: object, capability: Capability) -> bool:
    """Whether ``backend`` declares ``capability`` (one that declares nothing has none)."""
    return capability in getattr(backend, "capabilities", frozenset())


def refusal(backend: object, capability: Capability) -> Unsupported:
    """The one wording of what ``backend`` cannot do, with its cloud's reason where it gives one."""
    why = getattr(backend, "refusal_notes", {}).get(capability, "")
    return Unsupported(getattr(backend, "name", "this"), capability, why)


def require(backend: object, capability: Capability) -> None:
    """Ask before calling an optional method: refuse what ``backend`` does not declare."""
    if not can(backend, capability):
        raise refusal(backend, capability)


class Backend(ABC):
    """The primitive calls a backend answers. Order, waiting policy, clean-up and error wording are
    the lifecycle's; a backend only talks to its cloud (tests: FakeBackend in tests/fake_backend.py).
    The optional methods at the end are called only where ``capabilities`` declares them."""

    name: str
    target: str  # the render target its machines boot: cloud-init, ec2 or gce
    capabilities: frozenset[Capability] = frozenset()  # asked with can() and require()
    refusal_notes: dict[Capability, str] = {}  # why it lacks one, where the cloud has a reason

    @abstractmethod
    def resolve_source(self, create: bool = True) -> Source:
        """The image builders start from. ``create=False`` (dry runs): name it without making anything."""

    @abstractmethod
    def find_image(self, identity: Identity) -> Image | None:
        """The newest promoted image of this identity, if any."""

    @abstractmethod
    def launch(self, role: str, source: str, user_data: bytes, tags: dict[str, str]) -> Instance: ...

    poll_first: float = 0.05  # seconds before the first look at a guest; waits back off from here
    poll_maximum: float = 10.0

    @abstractmethod
    def console(self, instance: Instance) -> str:
        """Everything the machine has printed on its console so far."""

    @abstractmethod
    def state(self, instance: Instance) -> str:
        """running, stopped (powered off, disk intact) or gone (terminated or deleted)."""

    @abstractmethod
    def create_image(self, instance: Instance, name: str, tags: dict[str, str]) -> Image: ...

    @abstractmethod
    def delete_instance(self, instance: Instance) -> None: ...

    @abstractmethod
    def delete_image(self, image: Image) -> None: ...

    @abstractmethod
    def promote(self, image: Image, identity: Identity) -> None: ...

    @abstractmethod
    def list_images(self, profile: str) -> list[Image]:
        """bootstrap's own images of a profile (ownership tag and role image), in every region used."""

    @abstractmethod
    def reap(self, now: float, dry_run: bool = False, warn: Callable[[str], None] = print,
             pending: Pending | None = None) -> list[str]: ...  # fmt: skip

    def location(self) -> str:
        """Where this backend looks, for a person (a region, a zone, a folder)."""
        return ""

    def channel_pointers(self, profile: str, regions: set[str]) -> dict[str, list[str]]:
        """image id -> the channels whose launch name (an SSM parameter, a link) names it now, read from the
        name itself, not from our tags: a channel move cut between its tag and its name leaves them apart,
        and prune must keep what a launch would use. None but the tags (GCE: the label is the name)."""
        return {}

    # -- optional: called only where ``capabilities`` declares them (a declared one is overridden) --
    def copy_image(self, image: Image, region: str, tags: dict[str, str]) -> Image:  # Capability.COPY
        raise refusal(self, Capability.COPY)

    def point_channel(self, image: Image, profile: str, channel: str) -> None:  # Capability.CHANNELS
        """Point ``channel`` of ``profile`` (in the image's region) at ``image``: mark the image, then move
        the name users launch from (an SSM parameter, a symlink; GCE: the label is the name)."""
        raise refusal(self, Capability.CHANNELS)

    def deprecate(self, image: Image, replacement: Image, now: float) -> None:  # Capability.DEPRECATE
        """Mark ``image`` deprecated from ``now`` in favour of ``replacement`` (the cloud's own deprecation,
        and the TAG_DEPRECATED tag prune counts the grace period from)."""
        raise refusal(self, Capability.DEPRECATE)

    shares = ""  # Capability.SHARE: the cloud whose principals (sharing.py) it can share an image with

    def share(self, image: Image, principals: list[Any]) -> None:  # Capability.SHARE
        """Let ``principals`` (of this backend's cloud) launch ``image``, all or none: a failure takes
        back what it gave before raising."""
        raise refusal(self, Capability.SHARE)

    def shared_with(self, image: Image) -> list[str]:
        """Who besides its owner may launch ``image`` (accounts, ARNs, IAM members); none without SHARE."""
        return []

    def image_manifest(self, image: Image) -> dict[str, Any] | None:
        """The summary of the manifest kept with the image (bake/manifest.py), or None where none is
        kept. Only the local backend keeps one yet; EC2 and GCE would tag the image with its stable digest."""
        return None

    def record(self, image: Image, extra: dict[str, Any]) -> None:  # Capability.RECORD
        """Add the lifecycle's findings (steps baked, timings, test) to the manifest beside ``image``."""
        raise refusal(self, Capability.RECORD)

    # Capability.LAYERS: a layer is an Image whose tags hold ROLE_LAYER and its key; launch() takes its id.
    def layer_inputs(self) -> dict[str, str]:
        """What besides the source image changes what a builder's steps do here (layers.image_layers)."""
        return {}

    def find_layer(self, key: str, born_after: float) -> Image | None:  # Capability.LAYERS
        """The newest whole layer of bootstrap's with this key whose oldest part was made after
        ``born_after`` (unix time): never one whose making failed, nor one whose layers below are gone."""
        raise refusal(self, Capability.LAYERS)

    def layer_points(self, instance: Instance, console: str) -> list[int]:  # Capability.LAYERS
        """The layer points the builder's runner has said, in order, each once: read from its console
        (BOOTSTRAP-LAYER N), unless the backend has a channel of its own that steps cannot write to."""
        return [int(n) for n in LAYER_POINT.findall(console)]

    def make_layer(self, instance: Instance, tags: dict[str, str]) -> Image:  # Capability.LAYERS
        """At a layer point (the builder's console said BOOTSTRAP-LAYER and its runner waits): keep its
        disk as it is now as a layer tagged ``tags``, then let the runner go on. All or nothing: a layer
        whose making failed is removed before the error is raised."""
        raise refusal(self, Capability.LAYERS)

    def list_layers(self) -> list[Image]:  # Capability.LAYERS
        """bootstrap's own layers here, whoever's profile made them (delete_image deletes one)."""
        raise refusal(self, Capability.LAYERS)
