"""`bootstrap rebuild`: the scheduled job. Bake every profile whose image hash or source changed.

Profiles are baked a bounded number at a time, each with its own backend (SDK sessions are not
shared across threads). A failure is recorded and the others go on; the caller exits non-zero
afterwards. ``images.json`` maps profile → image hash → image per region, with times; entries of
earlier runs are kept so that the file is a history teams can commit or publish.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import BootstrapError
from .backend import Backend
from .events import Events
from .lifecycle import BakeOptions, BakeResult, bake


@dataclass
class Outcome:
    reference: str
    result: BakeResult | None = None
    error: str = ""
    skipped: str = ""  # why it was not baked (an abstract parent)

    @property
    def status(self) -> str:
        return self.result.status if self.result else ("skipped" if self.skipped else "failed")


def rebuild(references: list[str], make_backend: Callable[[Callable[[str], None]], Backend], options: BakeOptions,
            events: Events, jobs: int = 2) -> list[Outcome]:  # fmt: skip
    """Bake each profile; ``make_backend(progress)`` gives each its own backend, whose progress
    lines go out prefixed with that profile."""
    from ..planner import build_plan
    from ..profile import load_profile
    from ..sharing import profile_shares

    def one(reference: str) -> Outcome:
        scoped = events.for_profile(reference)
        try:
            profile = load_profile(reference)
            scoped = events.for_profile(profile.name)
            if profile.abstract:
                scoped.emit("skipped", "abstract: only a parent for others to extend, never baked")
                return Outcome(reference, skipped="abstract")
            plan = build_plan(profile)

            def progress(line: str) -> None:
                scoped.emit("progress", line)

            mine = replace(options, share=tuple(profile_shares(profile.data, options.share)))
            return Outcome(reference, bake(plan, make_backend(progress), mine, scoped, progress=progress))
        except BootstrapError as exc:
            scoped.emit("failed", str(exc))
            return Outcome(reference, error=str(exc))

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, references))


def update_manifest(path: Path, backend: str, outcomes: list[Outcome]) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text()) if path.exists() else {}
    except ValueError:
        manifest = {}
    profiles = manifest.setdefault("profiles", {})
    for outcome in outcomes:
        result = outcome.result
        if not result or not result.image or result.status == "planned":
            continue
        entry = profiles.setdefault(result.profile, {}).setdefault(result.identity.image_hash, {})
        images = entry.setdefault(backend, {})
        for image in [result.image, *result.copies]:
            images[image.region or "-"] = image.id
        # The source is the backend's own (an AMI, a GCE image): one per backend, as the images are.
        entry.setdefault("sources", {})[backend] = result.source.id
        entry.pop("source", None)  # written by earlier versions for whichever backend ran last
        entry.setdefault("built", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(result.image.created or time.time())))
        entry["checked"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(partial, path)
    return manifest
