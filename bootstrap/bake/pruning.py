"""The one deprecation policy: beyond the newest ``keep`` images of a profile in each region, an image
is deprecated (the cloud's own deprecation, naming the newest as its replacement), then deleted once
its grace period has passed. A bake prunes after promoting; no backend deprecates on its own."""

from __future__ import annotations

import time

from .backend import (
    TAG_CREATED,
    TAG_DEPRECATED,
    TAG_LAYER_BORN,
    TAG_LAYER_KEY,
    TAG_PROFILE,
    Backend,
    Capability,
    Image,
    LayerInUse,
    require,
    tag_value,
)
from .events import Events


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
    for image_id, channels in backend.channel_pointers(profile, set(by_region)).items():
        held[image_id] = sorted({*held.get(image_id, []), *channels})
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
                require(backend, Capability.DEPRECATE)
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


LAYER_GRACE_MINIMUM = 1.0  # days: a layer another bake of the profile found is not deleted under it at once


def prune_layers(backend: Backend, profile: str, needed: set[str], events: Events, grace_days: float,
                 max_age_days: float, now: float | None = None) -> list[str]:  # fmt: skip
    """The profile's own layers that no bake will use: past --max-age (never reused again), or not in the
    chain of the image just made (``needed``: its layers' keys) and older than the grace period (at least
    a day). Another profile's layers are its own bakes' to prune. Returns the layers deleted."""
    now = time.time() if now is None else now
    deleted = []
    for layer in backend.list_layers():
        if tag_value(layer, TAG_PROFILE) != profile:
            continue
        born = _number(tag_value(layer, TAG_LAYER_BORN))
        made = _number(tag_value(layer, TAG_CREATED)) or layer.created
        expired = now - born > max_age_days * 86400
        unneeded = (tag_value(layer, TAG_LAYER_KEY) not in needed
                    and now - made > max(grace_days, LAYER_GRACE_MINIMUM) * 86400)  # fmt: skip
        if not (expired or unneeded):
            continue
        try:
            backend.delete_image(layer)
        except LayerInUse as exc:
            events.emit("kept", str(exc), layer=layer.id)
            continue
        deleted.append(layer.id)
        why = f"older than --max-age {max_age_days:g} days" if expired else "not in the image's chain any more"
        events.emit("pruned", f"layer {layer.id} deleted: {why}", layer=layer.id)
    return deleted


def _number(value: str) -> float:
    return float(value) if value.isdigit() else 0.0
