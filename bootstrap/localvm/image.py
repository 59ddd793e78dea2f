"""The base image: Debian 12 minbase with a cloud kernel and cloud-init, built once and cached.

The cache key is the recipe's hash, so a changed recipe builds a new image and an unchanged one
is reused. Built without loop mounts or root-only tricks beyond mmdebstrap itself:
``mkfs.ext4 -d`` fills the filesystem from a folder, ``qemu-img convert`` makes the qcow2.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import hermetic, locks, paths
from ..errors import BackendError

SUITE = "bookworm"
PACKAGES = (
    "systemd-sysv", "udev", "dbus", "linux-image-cloud-amd64", "initramfs-tools", "cloud-init", "ifupdown",
    "isc-dhcp-client", "e2fsprogs", "util-linux", "ca-certificates", "curl",
    "google-guest-agent",  # GCE's own client of the startup-script (`bootstrap test --target gce`)
)  # fmt: skip
DISK_SIZE = "3G"
TOOLS = ("mmdebstrap", "mkfs.ext4", "qemu-img", "qemu-system-x86_64", "genisoimage")

# Written into the image: NoCloud only (no metadata server probing), the serial console, C.UTF-8.
CLOUD_CFG = """\
datasource_list: [ NoCloud, None ]
locale: C.UTF-8
"""
FSTAB = "LABEL=bootstrap-root / ext4 defaults,errors=remount-ro 0 1\n"  # by label: extra disks may come first
# Google's guest agent: only its startup-script runner, and only in boots that ask for it on the kernel
# command line (systemd.wants=), as it would wait for a metadata server in every other boot. Its output
# goes to the console too, where a test reads which client ran the script.
GCE_UNITS_MASKED = ("google-guest-agent.service", "google-shutdown-scripts.service")
GCE_STARTUP_UNIT = "google-startup-scripts.service"
GCE_STARTUP_DROPIN = "[Service]\nStandardOutput=journal+console\nStandardError=journal+console\n"
GCE_PRESET = "".join(f"disable {unit}\n" for unit in (*GCE_UNITS_MASKED, GCE_STARTUP_UNIT))
# As GCE's own images: its clients (cloud-init's GCE datasource) name the metadata server by this name.
HOSTS = "\n".join(("127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback",
                   "169.254.169.254 metadata.google.internal metadata", ""))  # fmt: skip

# Disks a test harness attaches by serial, each acted on by a unit the disk's appearance starts (so a
# boot without the disk does nothing): a local apt repository (an offline guest's only apt source,
# set up before any client runs, whichever cloud's client it is), and the bash target's script, run
# once as root after the boot, as a person who logged in would.
APT_SERIAL, APT_MOUNT = "bootstrap-apt", "/media/bootstrap-apt"
BY_HAND_SERIAL, BY_HAND_MOUNT, BY_HAND_SCRIPT = "bootstrap-by-hand", "/mnt/by-hand", "bootstrap.sh"
BY_HAND_BANNER = "bootstrap-by-hand: root runs bash"  # then the script's path, size and sha256, on the console
HELPERS = "/usr/lib/bootstrap-test"  # the units' scripts (systemd would expand their $ itself)
APT_SCRIPT = f"""\
#!/bin/sh
set -eu
mkdir -p {APT_MOUNT}
mountpoint -q {APT_MOUNT} || mount -o ro /dev/disk/by-id/virtio-{APT_SERIAL} {APT_MOUNT}
rm -f /etc/apt/sources.list /etc/apt/sources.list.d/debian.sources
echo "deb [trusted=yes] file:{APT_MOUNT} ./" > /etc/apt/sources.list.d/bootstrap-local.list
"""
BY_HAND_RUN = f"""\
#!/bin/sh
set -eu
mkdir -p {BY_HAND_MOUNT}
mountpoint -q {BY_HAND_MOUNT} || mount -o ro /dev/disk/by-id/virtio-{BY_HAND_SERIAL} {BY_HAND_MOUNT}
script={BY_HAND_MOUNT}/{BY_HAND_SCRIPT}
echo "{BY_HAND_BANNER} $script ($(wc -c < "$script") bytes, sha256 $(sha256sum < "$script" | cut -d ' ' -f 1))" \
  > /dev/console
cd /root
exec bash "$script"
"""
APT_UNIT = f"""\
[Unit]
Description=bootstrap test guest: apt from the local repository disk
DefaultDependencies=no
After=local-fs.target
Before=cloud-init.service cloud-config.service {GCE_STARTUP_UNIT} bootstrap-by-hand.service bootstrap.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={HELPERS}/local-apt
"""
BY_HAND_UNIT = f"""\
[Unit]
Description=bootstrap test guest: a person runs the bash script by hand
After=multi-user.target

[Service]
Type=oneshot
Environment=HOME=/root
ExecStart={HELPERS}/by-hand
StandardOutput=journal+console
StandardError=journal+console
"""
DISK_UNITS = {APT_SERIAL: ("bootstrap-local-apt.service", APT_UNIT, "local-apt", APT_SCRIPT),
              BY_HAND_SERIAL: ("bootstrap-by-hand.service", BY_HAND_UNIT, "by-hand", BY_HAND_RUN)}  # fmt: skip


def device_unit(serial: str) -> str:
    """systemd's name of /dev/disk/by-id/virtio-SERIAL (`systemd-escape --path --suffix=device`)."""
    path = f"dev/disk/by-id/virtio-{serial}"
    return "-".join(part.replace("-", "\\x2d") for part in path.split("/")) + ".device"


@dataclass(frozen=True)
class BaseImage:
    folder: Path

    @property
    def lock(self) -> Path:
        """Held exclusively by its builder, shared by every machine booting from it (locks.py)."""
        return self.folder.with_name(f".{self.folder.name}.lock")

    @property
    def ready(self) -> bool:
        return self.disk.exists() and self.kernel.exists() and self.initrd.exists()

    @property
    def disk(self) -> Path:
        return self.folder / "base.qcow2"

    @property
    def kernel(self) -> Path:
        return self.folder / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.folder / "initrd.img"

    @property
    def manifest(self) -> dict:
        return json.loads((self.folder / "manifest.json").read_text())


def recipe() -> dict:
    return {"suite": SUITE, "variant": "minbase", "packages": sorted(PACKAGES), "disk": DISK_SIZE,
            "cloud_cfg": CLOUD_CFG, "fstab": FSTAB,
            "gce": [GCE_UNITS_MASKED, GCE_STARTUP_UNIT, GCE_STARTUP_DROPIN, GCE_PRESET], "hosts": HOSTS,
            "disk_units": DISK_UNITS, "version": 3}  # fmt: skip


def recipe_hash() -> str:
    return hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode()).hexdigest()[:16]


def cache_dir() -> Path:
    return paths.cache_dir("images")


def private_cache(name: str = "images") -> Path:
    """A cache folder whose images may boot: nobody else can have written them (paths.private_cache)."""
    try:
        return paths.private_cache(name)
    except paths.CacheNotPrivate as exc:
        raise BackendError(str(exc)) from None


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def base_image() -> BaseImage:
    """Where the base image of the current recipe is (or will be) cached."""
    return BaseImage(cache_dir() / f"debian12-{recipe_hash()}")


def ensure_base_image(*, rebuild: bool = False, progress: Callable[[str], None] = print) -> BaseImage:
    """The cached base image for the current recipe, built when missing (about 1-2 minutes)."""
    private_cache()
    image = base_image()
    if image.ready and not rebuild:
        return image
    if missing := missing_tools():
        raise BackendError(f"building the base image needs {', '.join(missing)}: apt-get install qemu-system-x86 "
                           "qemu-utils mmdebstrap genisoimage e2fsprogs")  # fmt: skip
    # One builder at a time; machines booting from it hold the lock shared (Machine), so a rebuild
    # waits for them rather than replace the disk their overlays read.
    with locks.exclusive(image.lock, f"the base image {image.folder.name}", progress):
        if image.ready and not rebuild:
            return image  # another run built it while this one waited
        work = Path(tempfile.mkdtemp(prefix=".base-", dir=image.folder.parent))
        try:
            _build(work, progress)
            if image.folder.exists():
                aside = Path(tempfile.mkdtemp(prefix=".old-", dir=image.folder.parent))
                image.folder.rename(aside / "old")
                shutil.rmtree(aside, ignore_errors=True)
            work.rename(image.folder)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return image


def read_disk_file(disk: Path, path: str, work: Path) -> bytes | None:
    """The file at ``path`` in a local image's root filesystem (the whole disk one ext4 filesystem, as
    _build makes it), read without booting or mounting it: a raw copy of the disk (sparse), from which
    debugfs dumps the file. None when the image has no such file. ``work``: an empty folder of ours."""
    raw, found = work / "disk.raw", work / "found"
    try:
        _run(["qemu-img", "convert", "-O", "raw", str(disk), str(raw)], "qemu-img convert")
        # debugfs reads its request's words itself: the file it writes is named relative to its cwd.
        proc = hermetic.run(["debugfs", "-R", f"dump -p {path} found", str(raw)], timeout=300, cwd=work)
        if not found.is_file():
            if "not found" in proc.stderr.lower():
                return None
            raise BackendError(f"debugfs could not read {path} from {disk}: {proc.stderr.strip()[-500:]}")
        return found.read_bytes()
    finally:
        raw.unlink(missing_ok=True)
        found.unlink(missing_ok=True)


def _run(command: list[str], what: str) -> None:
    proc = hermetic.run(command, timeout=1800)  # mmdebstrap: minutes on a slow mirror
    if proc.returncode != 0:
        raise BackendError(f"{what} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")


def _build(work: Path, progress: Callable[[str], None]) -> None:
    root = work / "root"
    progress(f"building the Debian {SUITE} base image with mmdebstrap (once; cached in {cache_dir()})")
    _run(["mmdebstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(root)], "mmdebstrap")
    (root / "etc/fstab").write_text(FSTAB)
    (root / "etc/machine-id").write_text("")  # empty: systemd makes one per machine at boot
    (root / "etc/cloud/cloud.cfg.d/90-bootstrap-local.cfg").write_text(CLOUD_CFG)
    (root / "etc/network/interfaces.d").mkdir(parents=True, exist_ok=True)
    units = root / "etc/systemd/system"
    # systemd applies presets on a machine's first boot (the empty machine-id): the package's would
    # enable the runner again, and every boot without a metadata server would wait for it.
    (root / "etc/systemd/system-preset").mkdir(parents=True, exist_ok=True)
    (root / "etc/systemd/system-preset/10-bootstrap-gce.preset").write_text(GCE_PRESET)
    for unit in (*GCE_UNITS_MASKED, GCE_STARTUP_UNIT):
        for wants in units.glob("*.wants"):  # enabled by the package's preset when it was installed
            if (wants / unit).is_symlink():  # a link to /lib/...: dangling on this host, so not glob()bed
                (wants / unit).unlink()
    for unit in GCE_UNITS_MASKED:
        (units / unit).unlink(missing_ok=True)
        (units / unit).symlink_to("/dev/null")
    (units / f"{GCE_STARTUP_UNIT}.d").mkdir(parents=True, exist_ok=True)
    (units / f"{GCE_STARTUP_UNIT}.d" / "console.conf").write_text(GCE_STARTUP_DROPIN)
    (root / "etc/hosts").write_text(HOSTS)
    (root / HELPERS.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for serial, (name, text, helper, script) in DISK_UNITS.items():
        (units / name).write_text(text)
        (root / HELPERS.lstrip("/") / helper).write_text(script)
        (root / HELPERS.lstrip("/") / helper).chmod(0o755)
        wants = units / f"{device_unit(serial)}.wants"
        wants.mkdir(exist_ok=True)
        (wants / name).symlink_to(f"/etc/systemd/system/{name}")
    kernels = sorted((root / "boot").glob("vmlinuz-*"))
    initrds = sorted((root / "boot").glob("initrd.img-*"))
    if not kernels or not initrds:
        raise BackendError("the base image has no kernel or initrd under /boot")
    shutil.copy2(kernels[-1], work / "vmlinuz")
    shutil.copy2(initrds[-1], work / "initrd.img")
    raw = work / "disk.raw"
    _run(["truncate", "-s", DISK_SIZE, str(raw)], "truncate")
    _run(["mkfs.ext4", "-q", "-F", "-L", "bootstrap-root", "-d", str(root), str(raw)], "mkfs.ext4")
    _run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(work / "base.qcow2")], "qemu-img convert")
    raw.unlink()
    shutil.rmtree(root)
    manifest = {"recipe": recipe(), "recipe_hash": recipe_hash(), "kernel": kernels[-1].name}
    (work / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
