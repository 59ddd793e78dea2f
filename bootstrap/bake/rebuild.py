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
from dataclasses import dataclass
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


def profile_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.y*ml") if p.suffix in (".yaml", ".yml") and p.is_file())


def rebuild(references: list[str], make_backend: Callable[[], Backend], options: BakeOptions, events: Events,
            jobs: int = 2) -> list[Outcome]:  # fmt: skip
    from ..planner import build_plan
    from ..profile import load_profile

    def one(reference: str) -> Outcome:
        try:
            plan = build_plan(load_profile(reference))
            return Outcome(reference, bake(plan, make_backend(), options, events))
        except BootstrapError as exc:
            events.emit("failed", f"{reference}: {exc}", profile=reference)
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
        entry["source"] = result.source.id
        entry.setdefault("built", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(result.image.created or time.time())))
        entry["checked"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(partial, path)
    return manifest
