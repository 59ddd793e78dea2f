"""How GCE spells bootstrap's names: labels, whose keys and values allow lowercase letters, digits, '_'
and '-' (so ``bootstrap:owner`` is ``bootstrap-owner``); images of a profile share a family; a channel is
the label one image holds at a time (its former holders' is renamed was-CHANNEL)."""

from __future__ import annotations

import hashlib
import re

from ...bake.backend import CHANNEL_PREFIX, TAG_PROFILE

DEFAULT_SOURCE = "projects/debian-cloud/global/images/family/debian-12"
DEBIAN_PROJECT, DEBIAN_FAMILY = "debian-cloud", "debian-12"
DEFAULT_MACHINE_TYPE = "e2-standard-2"
TAG_MACHINE_IMAGE = "bootstrap:machine-image"  # on an image whose builder was also saved as a machine image


def label(text: str) -> str:
    """A GCE label key or value: lowercase letters, digits, '_' and '-', at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]


def labels(tags: dict[str, str]) -> dict[str, str]:
    return {label(key): label(value) for key, value in tags.items()}


def tags(values: dict[str, str]) -> dict[str, str]:
    """Our tags as GCE resources carry them: labels. (A value that is a template expression, e.g. Packer's
    ``${var.x}``, is kept as it is: it is a label only once evaluated.)"""
    return {label(key): value if value.startswith("${") else label(value) for key, value in values.items()}


def family(profile: str) -> str:
    """The image family a profile's images go into, unless the bake names another."""
    return label(f"bootstrap-{profile}")


CHANNEL_LABEL = CHANNEL_PREFIX.replace(":", "-")  # + the channel's name: the label key


def channel_label(channel: str) -> str:
    return label(CHANNEL_PREFIX + channel)


def channel_filter(profile: str, channel: str) -> str:
    """The images.list filter of the image that holds ``channel`` of ``profile``. The profile's own label
    too: two long profile names that share their first 53 characters share a (63-character) family."""
    return (f'family = "{family(profile)}" AND labels.{label(TAG_PROFILE)} = "{label(profile)}" AND '
            f"labels.{CHANNEL_LABEL}{channel}:*")


def machine_image_name(image: str) -> str:
    """The machine image saved beside ``image``: its name and -vm, within GCE's 63 characters. A long name
    keeps its start and a hash of the whole, not a cut end: two images of one second (their names differ
    only in the last random digits) must never share one, since deleting either deletes it."""
    if len(image) <= 60:
        return f"{image}-vm"
    return f"{image[:51]}-{hashlib.sha256(image.encode()).hexdigest()[:8]}-vm"
