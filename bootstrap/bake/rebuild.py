"""`bootstrap rebuild`: the scheduled job. Bake every profile whose image hash or source changed.

Profiles are baked a bounded number at a time, each with its own backend (SDK sessions are not
shared across threads). A failure is recorded and the others go on; the caller exits non-zero
afterwards. ``images.json`` maps profile → image hash → image per region, with times; entries of
earlier runs are kept so that the file is a history teams can commit or publish.
"""

from __future__ import annotations

import copy
import json
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..boundary import read_text
from ..errors import BootstrapError, Mark, Problem, ProfileError, UsageError
from .backend import Backend
from .events import Events
from .lifecycle import BakeOptions, BakeResult, bake


@dataclass
class Outcome:
    reference: str
    result: BakeResult | None = None
    error: str = ""
    skipped: str = ""  # why it was not baked (an abstract parent)
    failure: BootstrapError | None = None  # what failed, for the exit code (bad input 2, backend 3)

    @property
    def status(self) -> str:
        return self.result.status if self.result else ("skipped" if self.skipped else "failed")


def rebuild(references: list[str], make_backend: Callable[[Callable[[str], None]], Backend], options: BakeOptions,
            events: Events, jobs: int = 2) -> list[Outcome]:  # fmt: skip
    """Bake each profile; ``make_backend(progress)`` gives each its own backend, whose progress
    lines go out prefixed with that profile."""
    from ..bakeable import refuse_unbakeable
    from ..clouds.sharing import profile_shares
    from ..planner import build_plan
    from ..profile import load_profile

    twins = _same_names(references)

    def one(reference: str) -> Outcome:
        scoped = events.for_profile(reference)
        try:
            profile = load_profile(reference)
            scoped = events.for_profile(profile.name)
            if reference in twins:
                raise UsageError(f"{reference}: profile name {profile.name!r} is also {twins[reference]}'s: both "
                                 "would bake into one image family and move one channel, each run undoing the "
                                 "other; neither is baked (give each its own name)")  # fmt: skip
            if profile.abstract:
                scoped.emit("skipped", "abstract: only a parent for others to extend, never baked")
                return Outcome(reference, skipped="abstract")
            plan = build_plan(profile)
            refuse_unbakeable(profile, plan)

            def progress(line: str) -> None:
                scoped.emit("progress", line)

            mine = replace(options, share=tuple(profile_shares(profile.data, options.share)))
            return Outcome(reference, bake(plan, make_backend(progress), mine, scoped, progress=progress))
        except BootstrapError as exc:
            scoped.emit("failed", str(exc))
            return Outcome(reference, error=str(exc), failure=exc)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, references))


def _same_names(references: list[str]) -> dict[str, str]:
    """Each profile whose name another profile of the run also has -> the others, said by file."""
    from ..profile import load_profile

    by_name: dict[str, list[str]] = {}
    for reference in references:
        try:
            profile = load_profile(reference)
        except BootstrapError:
            continue  # it fails on its own in the run
        if not profile.abstract:
            by_name.setdefault(profile.name, []).append(reference)
    return {r: ", ".join(o for o in group if o != r) for group in by_name.values() if len(group) > 1 for r in group}


CONFLICT = re.compile(r"^(<{7}|={7}|>{7})(?: |$)", re.M)


def load_manifest(path: Path) -> dict[str, Any]:
    """images.json as written before, or {} when there is none. A file that does not parse is refused
    (exit 2, at its line), never replaced: every record in it is a team's history."""
    if not path.exists():
        return {}
    text = read_text(path, str(path))
    if conflict := CONFLICT.search(text):
        line = text.count("\n", 0, conflict.start()) + 1
        raise ProfileError(Problem(f"{path} holds git merge-conflict markers", Mark(str(path), line, 1),
                                   "keep both sides' entries (each profile and image hash is a record of its own), "
                                   "then run again"))  # fmt: skip
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProfileError(Problem(f"{path} is not valid JSON: {exc.msg}", Mark(str(path), exc.lineno, exc.colno),
                                   "fix or restore it (git checkout), then run again")) from None  # fmt: skip
    if not isinstance(data, dict) or not isinstance(data.get("profiles", {}), dict):
        raise ProfileError(Problem(f"{path}: expected an object with 'profiles', as bootstrap writes it",
                                   Mark(str(path), 1, 1)))  # fmt: skip
    return data


def update_manifest(path: Path, backend: str, outcomes: list[Outcome],
                    before: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """Record each outcome's images, every region's (an unchanged profile's too), keeping every entry.
    Written in a stable order, and only when a record changed: a nightly run that finds nothing to
    do leaves the file, and its git history, alone."""
    before = load_manifest(path) if before is None else before
    manifest = copy.deepcopy(before)
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
        entry.pop("checked", None)  # rewritten by earlier versions on every run
        entry.setdefault("built", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(result.image.created or time.time())))
    if manifest == before:
        return manifest
    manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(partial, path)
    return manifest
