"""The base image: Debian 12 minbase with a cloud kernel and cloud-init, built once and cached.

The cache key is the recipe's hash, so a changed recipe builds a new image and an unchanged one
is reused. Built without loop mounts or root-only tricks beyond mmdebstrap itself:
``mkfs.ext4 -d`` fills the filesystem from a folder, ``qemu-img convert`` makes the qcow2.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import paths
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


@dataclass(frozen=True)
class BaseImage:
    folder: Path

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
            "gce": [GCE_UNITS_MASKED, GCE_STARTUP_UNIT, GCE_STARTUP_DROPIN, GCE_PRESET], "version": 2}  # fmt: skip


def recipe_hash() -> str:
    return hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode()).hexdigest()[:16]


def cache_dir() -> Path:
    return paths.cache_dir("images")


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def base_image() -> BaseImage:
    """Where the base image of the current recipe is (or will be) cached."""
    return BaseImage(cache_dir() / f"debian12-{recipe_hash()}")


def ensure_base_image(*, rebuild: bool = False, progress: Callable[[str], None] = print) -> BaseImage:
    """The cached base image for the current recipe, built when missing (about 1-2 minutes)."""
    image = base_image()
    if image.disk.exists() and image.kernel.exists() and not rebuild:
        return image
    if missing := missing_tools():
        raise BackendError(f"building the base image needs {', '.join(missing)}: apt-get install qemu-system-x86 "
                           "qemu-utils mmdebstrap genisoimage e2fsprogs")  # fmt: skip
    image.folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="base-", dir=image.folder.parent))
    try:
        _build(work, progress)
        if image.folder.exists():
            shutil.rmtree(image.folder)
        work.rename(image.folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return image


def _run(command: list[str], what: str) -> None:
    proc = subprocess.run(command, capture_output=True, text=True)
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
