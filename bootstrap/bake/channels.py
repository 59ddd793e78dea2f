"""Channels: stable names users launch from (latest, stable, ...), moved only to tested images.

Every backend keeps the same record: an image pointed at a channel carries the channel's tag valued
with when, so the newest mark holds the channel (per region) and older marks are its history.
`latest` moves with every bake; other channels move only by `bootstrap images promote` (from
another channel, `latest` by default, or a named image) and back by `images rollback`. Prune never
deletes an image that holds a channel.
"""

from __future__ import annotations

import re

from ..errors import BackendError, UsageError
from .backend import CHANNEL_PATTERN, TAG_PROMOTED, Backend, Image, channel_marks, tag_value


def check_channel(name: str) -> str:
    if not re.fullmatch(CHANNEL_PATTERN, name):
        raise UsageError(f"channel {name!r}: lowercase letters, digits and '-', starting with a letter, at most 30")
    return name


def history(images: list[Image], channel: str) -> dict[str, list[Image]]:
    """Per region, the images that held ``channel``, the one holding it now first."""
    found: dict[str, list[Image]] = {}
    for image in sorted(images, key=lambda i: channel_marks(i).get(channel, -1), reverse=True):
        if channel in channel_marks(image):
            found.setdefault(image.region, []).append(image)
    return found


def holders(images: list[Image]) -> dict[str, list[str]]:
    """image id -> the channels it holds now."""
    held: dict[str, list[str]] = {}
    channels = sorted({name for image in images for name in channel_marks(image)})
    for channel in channels:
        for ordered in history(images, channel).values():
            held.setdefault(ordered[0].id, []).append(channel)
    return held


def tested(image: Image) -> bool:
    return bool(tag_value(image, TAG_PROMOTED))


def promote(backend: Backend, profile: str, channel: str, *, source: str = "latest",
            image_id: str | None = None) -> list[Image]:  # fmt: skip
    """Point ``channel`` at the image ``source`` holds now (or ``image_id``), in every region it has one."""
    check_channel(channel)
    images = backend.list_images(profile)
    if image_id:
        chosen = [i for i in images if i.id == image_id]
        if not chosen:
            raise BackendError(f"no image {image_id} of {profile} made by bootstrap")
    else:
        chosen = [ordered[0] for ordered in history(images, check_channel(source)).values()]
        if not chosen:
            raise BackendError(f"channel {source} of {profile} points at no image yet: bake it first")
    for image in chosen:
        if not tested(image):
            raise BackendError(f"{image.id} never passed its test: only tested images move to a channel")
    for image in chosen:
        backend.point_channel(image, profile, channel)
    return chosen


def rollback(backend: Backend, profile: str, channel: str) -> list[tuple[Image, Image]]:
    """Point ``channel`` back at the image it held before the current one, per region: (from, to) pairs."""
    moved = []
    for ordered in history(backend.list_images(profile), check_channel(channel)).values():
        current = ordered[0]
        previous = next((i for i in ordered[1:] if i.id != current.id), None)
        if previous is None:
            raise BackendError(f"channel {channel} of {profile} has held only {current.id}: nothing to roll back to")
        moved.append((current, previous))
    if not moved:
        raise BackendError(f"channel {channel} of {profile} points at no image")
    for _, previous in moved:
        backend.point_channel(previous, profile, channel)
    return moved
