"""The local backend: golden qcow2 images baked in QEMU from the cached Debian base image.

An output folder holds, per image, ``NAME.qcow2`` (flattened, no backing file), the kernel and
initrd it boots with, ``NAME.json`` (its record: "manifest" in bootstrap's other code, as here) and, where
its bake's seal wrote one, ``NAME.manifest.gz``, what the image holds (bake/manifest.py; NAME.json's
"contents" names its digests); ``PROFILE-latest.qcow2`` and
``PROFILE-latest.json`` link to the promoted one. Builder and test machines live in
``.work/`` under the output folder and are removed with their QEMU process whatever happens.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ... import __version__, hermetic, interrupts, locks, paths
from ...bake.backend import (
    CHANNEL_PREFIX,
    OWNER,
    TAG_DEPRECATED,
    TAG_HASH,
    TAG_LAYER_INDEX,
    TAG_OWNER,
    TAG_PROFILE,
    TAG_SOURCE,
    Backend,
    Capability,
    Identity,
    Image,
    Instance,
    Pending,
    Source,
    reap_verdict,
)
from ...boundary import IMAGE_NAME, image_name
from ...console import manifest_line, report
from ...errors import BackendError, ManifestError
from ...layout import MANIFEST
from ...localvm.clients import CLIENTS
from ...localvm.image import base_image, ensure_base_image, read_disk_file
from ...localvm.machine import GuestSetup, Machine
from ...localvm.vm import LocalVM
from . import layers
from .layers import LAYER_ID, BaseDisk, LayerStore


@dataclass(frozen=True)
class GoldenImage:
    """A baked image as a bootable disk (the BootImage shape the local machine takes)."""

    disk: Path
    kernel: Path
    initrd: Path
    # The base image's lock (localvm/image.py), where this disk reads it through its backing chain: a
    # machine holds it shared, so the base is not rebuilt under a builder, whose layers would then be
    # recorded over the new base while holding changes to the old one.
    lock: Path | None = None


class LocalBackend(Backend):
    """``client``: a target of `bootstrap test` (localvm/clients.py): the builder and the test machine
    receive their user data as that cloud hands it over, read by that cloud's client."""

    poll_first, poll_maximum = 0.5, 3.0  # a local guest boots in tens of seconds
    name = "local"
    capabilities = frozenset({Capability.CHANNELS, Capability.DEPRECATE, Capability.RECORD, Capability.LAYERS})
    refusal_notes = {Capability.COPY: "local images are files on this host"}

    def __init__(self, output: Path, *, progress: Callable[[str], None] = print, setup: GuestSetup | None = None,
                 memory_mb: int = 1024, client: str = "cloud-init", layer_cache: Path | None = None):  # fmt: skip
        self.output = Path(output).resolve()  # qcow2 backing files are resolved beside the overlay
        self.progress = progress
        self.setup = setup  # network, a local apt repository: for the builder and the test machine alike
        self.memory_mb = memory_mb
        self.client = client
        self.target = CLIENTS[client].renders
        self.clients: dict[str, str] = {}  # role -> the client its console named (e.g. DataSourceEc2Local)
        self._sources: dict[str, GoldenImage] = {}
        self._vms: dict[str, LocalVM] = {}  # by instance id
        # Layers boot as builders' disks: kept in this user's private cache, never in the output folder,
        # which may be a checkout's (a planted layer would be the golden image, or read any host file).
        # A --layer-cache DIR is held to the same: another user's (or a shared /tmp folder) could plant one.
        self.layers = LayerStore(_private(layer_cache.resolve()) if layer_cache else layers.default_folder())
        self._below: dict[str, str] = {}  # builder id -> the layer (or source) its disk is written over now
        self._points: dict[str, dict[int, str]] = {}  # builder id -> its layer points kept: index -> layer
        self._held: dict[str, list[locks.Shared]] = {}  # machine id -> the layers it reads (shared locks)

    # -- source and lookup -------------------------------------------------------------------
    def resolve_source(self, create: bool = True) -> Source:
        if not create:  # the base image's name is its recipe's hash: known without building it
            base = base_image()
            ready = "" if base.disk.exists() else " (not built yet: a real bake builds it first, 1-2 minutes)"
            return Source(base.folder.name, f"the local Debian 12 base image {base.folder.name}{ready}")
        base = ensure_base_image(progress=self.progress)
        source_id = base.folder.name
        self._sources[source_id] = GoldenImage(base.disk, base.kernel, base.initrd, base.lock)
        return Source(source_id, f"the local Debian 12 base image {source_id}")

    def manifests(self) -> list[dict]:
        """The manifests of bootstrap's own images here. A manifest's name is a name, never a path: one
        that is not an image name, or not its own file's, is nobody's to act on (a planted one could
        make prune delete outside this folder), and the files it stands for are found from the name."""
        found: list[dict] = []
        for path in sorted(self.output.glob("*.json")):
            if path.is_symlink():
                continue
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if not isinstance(data, dict) or data.get("format") != "bootstrap-local-image":
                continue
            if data.get("name") != path.stem or not IMAGE_NAME.match(path.stem) or not _written_by_us(data):
                continue
            if _files(self.output, path.stem)["disk"].exists():
                found.append(data)
        return found

    def find_image(self, identity: Identity) -> Image | None:
        """The newest promoted image of this identity (an untested leftover does not count as built)."""
        for data in sorted(self.manifests(), key=lambda d: d["created"], reverse=True):
            tags = data.get("tags", {})
            if not data.get("promoted"):
                continue
            if (tags.get(TAG_PROFILE), tags.get(TAG_HASH), tags.get(TAG_SOURCE)) == (
                identity.profile, identity.image_hash, identity.source):  # fmt: skip
                return self._image(data)
        return None

    def list_images(self, profile: str) -> list[Image]:
        mine = {TAG_PROFILE: profile, TAG_OWNER: OWNER}
        return [self._image(d) for d in self.manifests() if mine.items() <= d.get("tags", {}).items()]

    def _image(self, data: dict) -> Image:
        disk = _files(self.output, data["name"])["disk"]
        return Image(data["name"], data["name"], "", data["created"], {"disk": str(disk), "tags": data.get("tags", {})})

    # -- machines ----------------------------------------------------------------------------
    def boot_image(self, image_id: str) -> GoldenImage:
        """The disk, kernel and initrd that boot a source, a layer or a baked image."""
        if image_id in self._sources:
            return self._sources[image_id]
        if LAYER_ID.fullmatch(image_id):  # a layer boots with its chain's base image's kernel
            base = self._base()
            return GoldenImage(self.layers.disk(image_id), base.kernel, base.initrd, base.lock)
        self._manifest(image_id)
        files = _files(self.output, image_id)
        return GoldenImage(files["disk"], files["kernel"], files["initrd"])

    def _manifest(self, name: str) -> dict:
        image_name(name, f"image {name!r}")
        try:
            return json.loads((self.output / f"{name}.json").read_text())
        except (OSError, ValueError) as exc:
            raise BackendError(f"no local image {name} in {self.output}: {exc}") from exc

    def launch(self, role: str, source: str, user_data: bytes, tags: dict[str, str]) -> Instance:
        instance_id = f"bootstrap-{role}-{uuid.uuid4().hex[:8]}"
        self.output.mkdir(parents=True, exist_ok=True)  # only now: a dry run leaves no folder behind
        work = self.output / ".work" / instance_id
        work.mkdir(parents=True)
        # Each machine gets its user data as the cloud hands it over, on its first boot: the builder the
        # bake variant, the test machine of the golden image the plain one (bash: a person runs it again,
        # as the bake variant installs no unit: an image's machines may get cloud-init user data too).
        # A builder writes into the layer store: its disk becomes a layer at each layer point (layers.py).
        builder = role == "builder"
        disk = self.layers.new_disk() if builder else None
        vm: LocalVM | None = None
        try:
            vm = LocalVM(self.boot_image(source), self.client, user_data, self.setup or GuestSetup(), workdir=work,
                         memory_mb=self.memory_mb, disk=disk, layer_port=builder)  # fmt: skip
            (work / "tags.json").write_text(json.dumps(tags))
            vm.start(first=True)
        except BaseException:
            if vm is not None:
                vm.close()
            if disk is not None:
                self.layers.discard(disk)
            shutil.rmtree(work, ignore_errors=True)
            self._remove_empty_work()
            raise
        if builder:
            self._below[instance_id] = source
        if LAYER_ID.fullmatch(source):  # read through its chain from now on: prune leaves it be
            self._held[instance_id] = self.layers.hold(source)
        self._vms[instance_id] = vm
        machine = vm.machine
        (work / "qemu.pid").write_text(str(machine.process.pid if machine.process else 0))
        return Instance(instance_id, role, handle=machine)

    def console(self, instance: Instance) -> str:
        machine: Machine = instance.handle
        return machine.console()

    def state(self, instance: Instance) -> str:
        """stopped once QEMU has exited: the guest powered itself off (sealed) or crashed (an error)."""
        machine: Machine = instance.handle
        if machine.process is None or machine.process.poll() is None:
            return "running" if machine.process else "gone"
        if machine.process.returncode != 0:
            error = machine.process.stderr.read().decode(errors="replace") if machine.process.stderr else ""
            raise BackendError(f"QEMU exited ({machine.process.returncode}): {error[-500:]}")
        return "stopped"

    def create_image(self, instance: Instance, name: str, tags: dict[str, str]) -> Image:
        machine: Machine = instance.handle
        if machine.process and machine.process.poll() is None:
            raise BackendError(f"{instance.id} is still running: an image of a running disk would be torn")
        source = machine.base
        partial = self.output / f".{name}.partial"
        try:
            _run(["qemu-img", "convert", "-O", "qcow2", str(machine.disk), str(partial)])
            for suffix, path in (("vmlinuz", source.kernel), ("initrd.img", source.initrd)):
                _link_or_copy(path, self.output / f"{name}.{suffix}")
            os.replace(partial, self.output / f"{name}.qcow2")
            contents = self._keep_contents(machine, name)
        except BaseException:
            self.delete_image(Image(name, name))  # not returned to the lifecycle: nobody else would delete it
            raise
        finally:
            partial.unlink(missing_ok=True)
        info = json.loads(_run(["qemu-img", "info", "--output=json", str(self.output / f"{name}.qcow2")]))
        created = time.time()
        manifest = {
            "format": "bootstrap-local-image", "name": name, "bootstrap": __version__, "created": created,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)),
            "disk": f"{name}.qcow2", "kernel": f"{name}.vmlinuz", "initrd": f"{name}.initrd.img",
            "sizes": {"disk_bytes": info.get("actual-size"), "virtual_bytes": info.get("virtual-size")},
            "tags": tags, **({"contents": contents} if contents else {}),
        }  # fmt: skip
        (self.output / f"{name}.json").write_text(json.dumps(manifest, indent=2) + "\n")
        return self._image(manifest)

    def _keep_contents(self, machine: Machine, name: str) -> dict | None:
        """The image's manifest, read from its disk, checked against the hash its seal printed, and kept
        as NAME.manifest.gz; its digests and sizes for NAME.json. None where the seal printed none."""
        from ...bake.manifest import parse_manifest

        said = manifest_line(machine.console())
        if said is None:
            return None
        if said.sha256 is None:
            self.progress(f"{name}: the seal could not write the image's manifest (its console says why); "
                          "the image has none")  # fmt: skip
            return {"error": "the seal could not write it"}
        work = self.output / f".{name}.contents"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        try:
            data = read_disk_file(self.output / f"{name}.qcow2", MANIFEST, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if data is None:
            raise BackendError(f"{name}: the seal printed a manifest, but the disk has no {MANIFEST}")
        try:
            manifest = parse_manifest(data, f"{name}'s {MANIFEST}")
        except ManifestError as exc:
            raise BackendError(str(exc)) from exc
        if manifest.sha256 != said.sha256:
            raise BackendError(f"{name}: its {MANIFEST} has sha256 {manifest.sha256}, not the {said.sha256} its "
                               "seal printed: something wrote the disk after the seal")  # fmt: skip
        _files(self.output, name)["contents"].write_bytes(data)
        return {"file": f"{name}.manifest.gz", **manifest.summary()}

    def image_manifest(self, image: Image) -> dict | None:
        """NAME.json's "contents", with whether NAME.manifest.gz still holds them ("verified")."""
        from ...bake.manifest import read_manifest

        contents = self._manifest(image.id).get("contents")
        if not isinstance(contents, dict):
            return None
        path = _files(self.output, image_name(image.id, f"image {image.id!r}"))["contents"]
        if "error" in contents or not path.is_file():
            return {**contents, "verified": False}
        try:
            found = read_manifest(path)
        except ManifestError:
            return {**contents, "verified": False}
        return {**contents, "verified": found.sha256 == contents.get("sha256")}

    def record(self, image: Image, extra: dict) -> None:
        """Add the lifecycle's findings (steps baked, timings, test) to an image's manifest, and the
        client that ran each machine's user data, as its console named it."""
        path = self.output / f"{image.id}.json"
        data = json.loads(path.read_text())
        data.update(extra, **({"target": self.client, "clients": self.clients} if self.clients else {}))
        path.write_text(json.dumps(data, indent=2, default=str) + "\n")

    def delete_instance(self, instance: Instance) -> None:
        machine: Machine = instance.handle
        vm = self._vms.pop(instance.id, None)
        if vm and _reported_ok(machine):
            vm.wait_for_client(first=True)  # a machine deleted on a failure is not waited for
        console = machine.console()
        if vm:
            vm.close()
            self.clients[instance.role] = vm.handover.client([console])
        else:
            machine.remove()
        self.layers.discard(machine.disk)  # a builder's top disk, past its last layer point
        self._below.pop(instance.id, None)
        self._points.pop(instance.id, None)
        for lock in self._held.pop(instance.id, []):
            lock.release()
        self._remove_empty_work()

    def delete_image(self, image: Image) -> None:
        if LAYER_ID.fullmatch(image.id):
            self.layers.delete(image.id)
            return
        for path in _files(self.output, image_name(image.id, f"image {image.id!r}")).values():
            path.unlink(missing_ok=True)

    def promote(self, image: Image, identity: Identity) -> None:
        self.record(image, {"promoted": int(time.time())})
        self.point_channel(image, identity.profile, "latest")

    def deprecate(self, image: Image, replacement: Image, now: float) -> None:
        data = self._manifest(image.id)
        self.record(image, {"tags": {**data.get("tags", {}), TAG_DEPRECATED: str(int(now))},
                            "replacement": replacement.id})  # fmt: skip

    def point_channel(self, image: Image, profile: str, channel: str) -> None:
        """The channel in the image's manifest, then PROFILE-CHANNEL.qcow2 and .json link to it."""
        data = self._manifest(image.id)
        self._refuse_anothers_link(self.output / f"{profile}-{channel}.json", profile, channel)
        self.record(image, {"tags": {**data.get("tags", {}), f"{CHANNEL_PREFIX}{channel}": str(time.time_ns())}})
        for suffix in ("qcow2", "json"):
            link = self.output / f"{profile}-{channel}.{suffix}"
            # This run's own name: another run moving the same channel has its own link to rename.
            temporary = link.with_name(f".{link.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.new")
            temporary.symlink_to(f"{image.id}.{suffix}")
            os.replace(temporary, link)

    def _refuse_anothers_link(self, link: Path, profile: str, channel: str) -> None:
        """Profile names and channels both hold '-': p's channel other-stable and p-other's stable are one
        link name. Never move a link that names another profile's image. The link's target is read as a
        name only, among this folder's own manifests: never followed (a planted one could name a pipe or
        /dev/zero, or a file outside)."""
        if not link.is_symlink():
            return
        target = Path(os.readlink(link))
        owners = {data["name"]: data.get("tags", {}).get(TAG_PROFILE) for data in self.manifests()}
        owner = owners.get(target.stem) if target.name == f"{target.stem}.json" else None
        if owner not in (None, profile):
            raise BackendError(f"{link.name} is profile {owner}'s link, not {profile}'s channel {channel}: name the "
                               f"channel otherwise, or keep the two profiles' images in separate folders (-o)")

    def location(self) -> str:
        return str(self.output)

    # -- layers (clouds/local/layers.py) -----------------------------------------------------------
    def _base(self) -> GoldenImage:
        """The base image layers are written over: the one resolve_source resolved, or (a dry run, which
        builds none) the one it would."""
        if self._sources:
            return next(iter(self._sources.values()))
        base = base_image()
        return GoldenImage(base.disk, base.kernel, base.initrd, base.lock)

    def layer_inputs(self) -> dict[str, str]:
        """The client (its handover differs), the guest's network, vendor data and read-only disks (a
        local apt repository's packages), and the base disk as built: each changes what steps do."""
        setup = self.setup or GuestSetup()
        inputs = {"client": self.client, "network": str(setup.network),
                  "vendor-data": hashlib.sha256((setup.vendor_data or "").encode()).hexdigest(),
                  "base-disk": BaseDisk.of(self._base().disk).identity}  # fmt: skip
        for serial, path in sorted(setup.read_only_disks.items()):
            inputs[f"disk:{serial}"] = f"{path.name}:{BaseDisk.of(path).identity}"  # apt repos: named by content
        return inputs

    def find_layer(self, key: str, born_after: float) -> Image | None:
        return self.layers.usable(key, born_after, BaseDisk.of(self._base().disk))

    def layer_points(self, instance: Instance, console: str) -> list[int]:
        """Read from the builder's layer port, never its console (which a step, or a daemon, may write).
        A point said again (the runner repeats it until it has its word) whose layer is kept is answered
        again; each new one is returned once."""
        machine: Machine = instance.handle
        kept = self._points.setdefault(instance.id, {})
        new = []
        for line in machine.hear_guest():
            word, _, number = line.partition(" ")
            if word != "point" or not number.isdigit():
                continue
            index = int(number)
            if index in kept:
                machine.tell_guest(f"layer {index} recorded as {kept[index]}")
            elif index not in new:
                new.append(index)
        return new

    def make_layer(self, instance: Instance, tags: dict[str, str]) -> Image:
        """The builder's disk frozen as it is now (QEMU writes on into a new overlay over it), recorded as a
        layer over the one below; then the runner is told to go on."""
        machine: Machine = instance.handle
        with interrupts.shielded():  # a signal waits until the disk is a whole layer, or none
            frozen = machine.snapshot_disk(self.layers.new_disk())
            layer = self.layers.record(frozen, tags, self._below[instance.id], BaseDisk.of(self._base().disk))
            self._below[instance.id] = layer.id
            index = int(tags.get(TAG_LAYER_INDEX, "0"))
            self._points.setdefault(instance.id, {})[index] = layer.id
            self._held.setdefault(instance.id, []).extend(self.layers.hold(layer.id)[:1])  # below its disk now
        machine.tell_guest(f"layer {index} recorded as {layer.id}")
        return layer

    def list_layers(self) -> list[Image]:
        return self.layers.layers()

    def channel_pointers(self, profile: str, regions: set[str]) -> dict[str, list[str]]:
        """The images the profile's channel links name (another profile's links that match the glob name
        none of this profile's images: prune asks only about those)."""
        named: dict[str, list[str]] = {}
        for link in sorted(self.output.glob(f"{profile}-*.qcow2")):
            if link.is_symlink():
                named.setdefault(Path(os.readlink(link)).stem, []).append(link.stem.removeprefix(f"{profile}-"))
        return named

    def reap(self, now: float, dry_run: bool = False, warn: Callable[[str], None] = print,
             pending: Pending | None = None) -> list[str]:  # fmt: skip
        """Machines a killed run left in .work/, once past their expiry: stop their QEMU, remove their files."""
        reaped = []
        for work in sorted((self.output / ".work").glob("bootstrap-*")):
            try:
                tags = json.loads((work / "tags.json").read_text())
            except (OSError, ValueError):
                tags = {}
            due, warning = reap_verdict(tags if isinstance(tags, dict) else {}, now, work.name, pending)
            if warning:
                warn(warning)
            if not due:
                continue
            reaped.append(work.name)
            if dry_run:
                continue
            pid_file = work / "qemu.pid"
            pid = int(pid_file.read_text() or 0) if pid_file.exists() else 0
            if pid and _is_our_qemu(pid, work):
                os.kill(pid, 9)
            shutil.rmtree(work, ignore_errors=True)
        self._remove_empty_work()
        # Layer disks without a record (a builder killed at a layer point) that no bake wrote for a day.
        reaped += self.layers.orphans(now) if dry_run else self.layers.sweep(now)
        return reaped

    def _remove_empty_work(self) -> None:
        with contextlib.suppress(OSError):
            (self.output / ".work").rmdir()


def _files(output: Path, name: str) -> dict[str, Path]:
    """The files of the image ``name``: found from its name alone, never from what a manifest says."""
    return {"disk": output / f"{name}.qcow2", "kernel": output / f"{name}.vmlinuz",
            "initrd": output / f"{name}.initrd.img", "manifest": output / f"{name}.json",
            "contents": output / f"{name}.manifest.gz"}  # fmt: skip


def _written_by_us(data: dict) -> bool:
    """A manifest's values of the types create_image and record write: a time that is a number, tags of
    strings. Another's (planted in a checkout's images/) would make sorting and prune raise."""
    created, tags = data.get("created"), data.get("tags", {})
    return (isinstance(created, (int, float)) and not isinstance(created, bool) and math.isfinite(created)
            and isinstance(tags, dict) and all(isinstance(v, str) for v in tags.values()))  # fmt: skip


def _private(folder: Path) -> Path:
    try:
        return paths.private_folder(folder)
    except paths.CacheNotPrivate as exc:
        raise BackendError(str(exc)) from None


def _reported_ok(machine: Machine) -> bool:
    found = report(machine.console(), ("ok",))
    return found is not None and found.result == "ok"


def _is_our_qemu(pid: int, work: Path) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return "qemu-system" in command and str(work) in command


def _link_or_copy(source: Path, destination: Path) -> None:
    destination.unlink(missing_ok=True)
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def _run(command: list[str]) -> str:
    proc = hermetic.run(command, timeout=600)
    if proc.returncode != 0:
        raise BackendError(f"{command[0]} failed: {proc.stderr.strip()[-1000:]}")
    return proc.stdout
