"""The rules of `bootstrap images`: which profile a name means, what a channel holds, which images an
action takes, what may be deprecated, shared or deleted. Results are returned and refusals raised as
typed errors (a misspelt profile: InputError, exit 2; what the backend refuses: BackendError, exit 3);
the CLI only prints them.
"""

from __future__ import annotations

import contextlib
import difflib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BackendError, BootstrapError, Problem, UsageError
from . import channels
from .backend import TAG_HASH, Backend, Capability, Image, can, channel_marks, require, tag_value
from .pruning import deprecated_at


def profile_name(reference: str) -> tuple[str, bool]:
    """The name of the profile ``reference`` names, and whether it named a profile's file: that is read
    for its name (taken as a name, it matched no image, silently)."""
    from ..profile import load_profile

    if Path(reference).is_file() or reference.endswith((".yaml", ".yml")) or "/" in reference:
        return load_profile(reference).name, True
    if not re.match(r"^[a-z0-9][a-z0-9-]{0,62}$", reference):
        raise UsageError(f"{reference!r} is neither a profile's name nor a profile file")
    return reference, False


def known_profiles(folder: Path = Path(".")) -> set[str]:
    """The profile names a folder knows: the built-in ones, the profiles in it and under its profiles/
    (as rebuild finds them), and those its images.json records."""
    from ..discover import profile_files
    from ..profile import builtin_profiles
    from ..yamlload import load_file
    from .rebuild import load_manifest

    names = set(builtin_profiles())
    for where, pattern in ((folder, "*.y*ml"), (folder / "profiles", "**/*.y*ml")):
        for path in profile_files(where, pattern)[0] if where.is_dir() else []:
            with contextlib.suppress(BootstrapError, OSError):  # a broken one names nothing
                data = load_file(str(path))
                name = data.get("name") if isinstance(data, dict) else None
                names.add(name if isinstance(name, str) else path.stem)
    with contextlib.suppress(BootstrapError, OSError):
        names |= set(load_manifest(folder / "images.json").get("profiles", {}))
    return names


def refuse_unknown(name: str, backend: str) -> None:
    """A name that matches no image is fine when it is a profile this folder knows (it has none yet);
    otherwise it is a misspelt or unknown name: bad input, with the closest known names."""
    known = known_profiles()
    if name in known:
        return
    close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.6)
    hint = (f"did you mean {' or '.join(close)}?" if close else "name a profile: a file here or under profiles/, "
            "a built-in one (bootstrap list) or one in images.json; a profile's file is read for its name")
    raise UsageError(Problem(f"no profile named {name!r} here and no image of one ({backend})", None, hint))


@dataclass
class Catalogue:
    """bootstrap's own images of one profile on one backend (list_images sees no other)."""

    backend: Backend
    profile: str
    images: list[Image]

    @classmethod
    def of(cls, backend: Backend, profile: str, named_file: bool = False, image_id: str | None = None) -> Catalogue:
        """``profile``'s images (``named_file``: the name was read from a profile's file). Where the name is
        all an action goes by (no ``image_id``), one that has no image and that this folder does not know
        is refused as misspelt, before any action; an image named by id is told missing by its id."""
        images = backend.list_images(profile)
        if not images and not named_file and image_id is None:
            refuse_unknown(profile, backend.name)
        return cls(backend, profile, images)

    def rows(self, now: float | None = None) -> list[dict[str, Any]]:
        """Per image, newest first in each region: id, region, hash, channels held and once held, tested,
        state, who it is shared with, age."""
        now = time.time() if now is None else now
        images = sorted(self.images, key=lambda i: (i.region, -i.created))
        held = channels.holders(images)
        return [{"image": i.id, "region": i.region, "hash": tag_value(i, TAG_HASH), "channels": held.get(i.id, []),
                 "history": sorted(set(channel_marks(i)) - set(held.get(i.id, []))), "tested": channels.tested(i),
                 "state": "deprecated" if deprecated_at(i) is not None else "available",
                 "shared_with": self.backend.shared_with(i),
                 "age_days": round((now - i.created) / 86400, 1) if i.created else None}
                for i in images]  # fmt: skip

    def show(self, image_id: str | None, now: float | None = None) -> list[dict[str, Any]]:
        """The chosen image (default: latest's, in each region): its row, its tags, and the summary of the
        manifest kept with it (None where none is)."""
        chosen = {i.id for i in self.chosen(image_id)}
        rows = {(row["image"], row["region"]): row for row in self.rows(now)}
        return [{**rows[(i.id, i.region)], "tags": dict(sorted(i.details.get("tags", {}).items())),
                 "manifest": self.backend.image_manifest(i)}
                for i in self.images if i.id in chosen]  # fmt: skip

    def promote(self, channel: str, source: str = "latest", image_id: str | None = None) -> list[Image]:
        require(self.backend, Capability.CHANNELS)
        return channels.promote(self.backend, self.profile, channel, source=source, image_id=image_id)

    def rollback(self, channel: str) -> list[tuple[Image, Image]]:
        require(self.backend, Capability.CHANNELS)
        return channels.rollback(self.backend, self.profile, channel)

    def chosen(self, image_id: str | None) -> list[Image]:
        """The image ``image_id``, or by default the one latest points at, in each region."""
        if image_id is None:
            return [ordered[0] for ordered in channels.history(self.images, "latest").values()]
        found = [i for i in self.images if i.id == image_id]
        if not found:
            raise BackendError(f"no image {image_id} of {self.profile} made by bootstrap ({self.backend.name})")
        return found

    def sharing(self, principals: list[Any]) -> tuple[list[Any], list[Any]]:
        """(those this backend shares with, those of another cloud, which it leaves)."""
        cloud = self.backend.shares if can(self.backend, Capability.SHARE) else ""
        return [p for p in principals if p.cloud == cloud], [p for p in principals if p.cloud != cloud]

    def share(self, image_id: str | None, principals: list[Any]) -> Iterator[Image]:
        """Share each chosen image with ``principals`` (this backend's), yielding each once shared."""
        for image in self.chosen(image_id) if principals else []:
            self.backend.share(image, principals)
            yield image

    def deprecate(self, image_id: str, now: float | None = None) -> list[tuple[Image, Image]]:
        """Deprecate the image now, replaced by what latest holds in its region: (image, replacement)."""
        require(self.backend, Capability.DEPRECATE)
        latest = {ordered[0].region: ordered[0] for ordered in channels.history(self.images, "latest").values()}
        done = []
        for image in self.chosen(image_id):
            replacement = latest.get(image.region, image)
            self.backend.deprecate(image, replacement, time.time() if now is None else now)
            done.append((image, replacement))
        return done

    def deletable(self, image_id: str) -> list[Image]:
        """The image, unless a channel points at it: then the channel must move first."""
        held = channels.holders(self.images)
        chosen = self.chosen(image_id)
        for image in chosen:
            if image.id in held:
                raise BackendError(f"{image.id} is what channel {', '.join(held[image.id])} points at: move the "
                                   "channel first (images promote or rollback)")  # fmt: skip
        return chosen

    def delete(self, image_id: str) -> Iterator[Image]:
        """Delete the image (refused first if a channel points at it), yielding it once deleted."""
        for image in self.deletable(image_id):
            self.backend.delete_image(image)
            yield image
