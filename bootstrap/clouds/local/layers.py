"""The local backend's layers (bootstrap/layers.py): a qcow2 backing chain in this user's private
cache (``~/.cache/bootstrap/layers``, or --layer-cache), each layer an overlay of the one below (the
lowest, of the base image). Never in the output folder: that may be a checkout's, and a layer planted
there would become the golden image (or, through its backing file, show the guest any host file).

A builder's disk is a fresh ``L-ID.qcow2`` there over the layer (or base image) it starts from. At a
layer point QEMU goes on writing into a new overlay (an external snapshot, machine.snapshot_disk), the
disk written until then stays as it is, and ``L-ID.json``, written last and atomically, makes it a
layer: a file without its record is a layer in the making, or one a killed bake left, and is never
used (sweep() removes it a day later). Names are a random id, never the key: two bakes making the
same layer at once each keep their own. A golden image is flattened (no backing file): deleting a
layer never breaks an image, only the layers above it, which lookups then refuse.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ... import hermetic, interrupts, locks
from ...bake.backend import (
    OWNER,
    ROLE_LAYER,
    TAG_LAYER_BORN,
    TAG_LAYER_KEY,
    TAG_OWNER,
    TAG_ROLE,
    Image,
    LayerInUse,
)
from ...errors import BackendError

FORMAT = "bootstrap-local-layer"
LAYER_ID = re.compile(r"L-[0-9a-f]{32}")
ORPHAN_AGE = 86400  # a layer file without its record this old belongs to no running bake


@dataclass(frozen=True)
class BaseDisk:
    """What a chain's lowest overlay is written over: its path, and what says it was not replaced since."""

    path: Path
    identity: str  # size and mtime: a rebuilt base image under the same name is another disk

    @classmethod
    def of(cls, path: Path) -> BaseDisk:
        """A disk not built yet (a dry run's base image) has no identity: no layer is ever over it."""
        try:
            info = path.stat()
        except FileNotFoundError:
            return cls(path, "absent")
        return cls(path, f"{info.st_size}:{info.st_mtime_ns}")


def default_folder() -> Path:
    """This user's private layer cache (``$XDG_CACHE_HOME/bootstrap/layers``), made if missing."""
    from ...localvm.image import private_cache

    return private_cache("layers")


class LayerStore:
    def __init__(self, folder: Path):
        self.folder = folder

    def new_disk(self) -> Path:
        """A fresh name for a builder's disk (the layer it becomes, if its bake gets that far)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / f"L-{uuid.uuid4().hex}.qcow2"

    def holds(self, disk: Path) -> bool:
        return disk.parent == self.folder and LAYER_ID.fullmatch(disk.stem) is not None

    def disk(self, layer_id: str) -> Path:
        return self.folder / f"{_checked(layer_id)}.qcow2"

    def record(self, disk: Path, tags: dict[str, str], below: str, base: BaseDisk) -> Image:
        """Make ``disk`` (frozen: nothing writes it any more) a layer: its record, written atomically."""
        data = {"format": FORMAT, "id": disk.stem, "created": time.time(), "below": below,
                "base": str(base.path), "base_identity": base.identity, "tags": tags}  # fmt: skip
        partial = disk.with_name(f".{disk.stem}.json.{uuid.uuid4().hex[:8]}")
        try:
            partial.write_text(json.dumps(data, indent=2) + "\n")
            os.replace(partial, disk.with_suffix(".json"))
        finally:
            partial.unlink(missing_ok=True)
        return _image(self.folder, data)

    def records(self) -> list[dict]:
        """Every whole layer record here: read as names only, never followed (a checkout's planted one)."""
        found = []
        for path in sorted(self.folder.glob("L-*.json")) if self.folder.is_dir() else []:
            if path.is_symlink() or not LAYER_ID.fullmatch(path.stem):
                continue
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if _is_ours(data, path.stem) and (self.folder / f"{path.stem}.qcow2").is_file():
                found.append(data)
        return found

    def layers(self) -> list[Image]:
        return [_image(self.folder, data) for data in self.records()]

    def usable(self, key: str, born_after: float, base: BaseDisk) -> Image | None:
        """The newest layer with ``key`` whose chain is whole down to ``base`` as it is now."""
        by_id = {data["id"]: data for data in self.records()}
        candidates = [d for d in by_id.values() if d["tags"].get(TAG_LAYER_KEY) == key
                      and _born(d) > born_after and _whole(d, by_id, base, self.folder)]  # fmt: skip
        newest = max(candidates, key=lambda d: d["created"], default=None)
        return _image(self.folder, newest) if newest else None

    def hold(self, layer_id: str) -> list[locks.Shared]:
        """Shared locks on the layer and every layer below it, for as long as a machine reads them through
        its backing chain: prune deletes none of them meanwhile (another profile's bake, or a test)."""
        by_id = {data["id"]: data for data in self.records()}
        held: list[locks.Shared] = []
        seen: set[str] = set()
        while LAYER_ID.fullmatch(layer_id) and layer_id not in seen:
            seen.add(layer_id)
            held.append(locks.Shared(self._lock(layer_id), f"the layer {layer_id}"))
            layer_id = by_id.get(layer_id, {}).get("below", "")
        return held

    def _lock(self, layer_id: str) -> Path:
        return self.folder / f".{_checked(layer_id)}.lock"

    def delete(self, layer_id: str) -> None:
        """The record first: a layer is never usable without all of its disk. One a machine reads (its
        lock held shared) is not deleted: LayerInUse."""
        fd = os.open(self._lock(layer_id), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LayerInUse(f"layer {layer_id} is read by a running bake or test: kept") from None
            with interrupts.shielded():
                (self.folder / f"{layer_id}.json").unlink(missing_ok=True)
                (self.folder / f"{layer_id}.qcow2").unlink(missing_ok=True)
                self._lock(layer_id).unlink(missing_ok=True)
        finally:
            os.close(fd)

    def discard(self, disk: Path) -> None:
        """A builder's disk that did not become a layer (its record was never written)."""
        if self.holds(disk) and not disk.with_suffix(".json").exists():
            disk.unlink(missing_ok=True)

    def orphans(self, now: float) -> list[str]:
        """Layer files without a record that no bake has written for a day: what killed bakes left."""
        found = []
        for disk in sorted(self.folder.glob("L-*.qcow2")) if self.folder.is_dir() else []:
            if disk.is_symlink() or disk.with_suffix(".json").exists() or not LAYER_ID.fullmatch(disk.stem):
                continue
            if now - disk.lstat().st_mtime > ORPHAN_AGE:
                found.append(disk.stem)
        return found

    def sweep(self, now: float) -> list[str]:
        swept = self.orphans(now)
        for name in swept:
            (self.folder / f"{name}.qcow2").unlink(missing_ok=True)
        return swept


def _checked(layer_id: str) -> str:
    if not LAYER_ID.fullmatch(layer_id):
        raise BackendError(f"{layer_id!r} is not a local layer's id (L- and 32 hex digits)")
    return layer_id


def _is_ours(data: object, name: str) -> bool:
    """A record of the shape record() writes, for the file of its own name, with our owner tag."""
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("id") != name:
        return False
    created, tags, below = data.get("created"), data.get("tags"), data.get("below")
    return (isinstance(created, (int, float)) and not isinstance(created, bool) and math.isfinite(created)
            and isinstance(tags, dict) and all(isinstance(v, str) for v in tags.values())
            and tags.get(TAG_OWNER) == OWNER and tags.get(TAG_ROLE) == ROLE_LAYER
            and isinstance(below, str) and isinstance(data.get("base_identity"), str))  # fmt: skip


def _born(data: dict) -> float:
    value = data["tags"].get(TAG_LAYER_BORN, "")
    return float(value) if value.isdigit() else 0.0


def _whole(data: dict, by_id: dict[str, dict], base: BaseDisk, folder: Path) -> bool:
    """Every layer below is still here, each disk's backing file is the one below's (what its record says
    is what QEMU would read), and the lowest was written over the base disk as it is now."""
    seen: set[str] = set()
    while True:
        below = data["below"]
        expected = folder / f"{below}.qcow2" if LAYER_ID.fullmatch(below) else base.path
        if data["id"] in seen or _backing(folder / f"{data['id']}.qcow2") != str(expected):
            return False
        seen.add(data["id"])
        if not LAYER_ID.fullmatch(below):
            return data["base"] == str(base.path) and data["base_identity"] == base.identity
        if below not in by_id:
            return False
        data = by_id[below]


def _backing(disk: Path) -> str | None:
    """The backing file a qcow2 names, as QEMU would open it (-U: a running builder may hold its lock)."""
    proc = hermetic.run(["qemu-img", "info", "-U", "--output=json", str(disk)], timeout=60)
    try:
        info = json.loads(proc.stdout) if proc.returncode == 0 else {}
    except ValueError:
        return None
    return info.get("full-backing-filename") or info.get("backing-filename")


def _image(folder: Path, data: dict) -> Image:
    disk = folder / f"{data['id']}.qcow2"
    return Image(data["id"], data["id"], "", data["created"], {"disk": str(disk), "below": data["below"],
                                                               "tags": data["tags"]})  # fmt: skip
