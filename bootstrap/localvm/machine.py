"""One local VM: a qcow2 overlay on the base image, a NoCloud seed, QEMU, and its serial console.

Completion comes back over the serial console: the runner prints ``BOOTSTRAP-RESULT <result>
<failed-step>`` to /dev/console when a boot's phases end. A machine is a context manager: on
any exit, QEMU is stopped and (unless kept) its files are removed.
"""

from __future__ import annotations

import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .. import console as guest
from .. import hermetic, interrupts, locks
from ..console import GuestReport
from ..errors import BackendError
from . import accel, leftovers
from .metadata import GUEST_MAC


class BootImage(Protocol):
    """A disk to boot (the base image, or a golden image baked from it) and the kernel to boot it with."""

    @property
    def disk(self) -> Path: ...
    @property
    def kernel(self) -> Path: ...
    @property
    def initrd(self) -> Path: ...


@dataclass(frozen=True)
class GuestSetup:
    """What a launcher adds around the rendered user data: vendor data (cloud-init merges it under the
    user data, which stays exactly as rendered), read-only raw disks by serial (e.g. a local apt
    repository), and networking. Test guests get no network: they must reach no address."""

    vendor_data: str | None = None
    read_only_disks: dict[str, Path] = field(default_factory=dict)
    network: bool = False
    metadata_port: int | None = None  # a host port the guest reaches as 169.254.169.254:80 (metadata.py)
    kernel_args: tuple[str, ...] = ()  # e.g. systemd.wants=UNIT: a client this boot starts
    smbios: tuple[str, ...] = ()  # QEMU -smbios values: the DMI a client reads to know its cloud

    def nic(self) -> str:
        """QEMU's -nic: none; or user-mode NAT (no inbound), with a metadata server forwarded at the
        link-local address the clouds use (the user network then lives in 169.254.0.0/16, where
        guestfwd may name it), and outbound blocked when the guest gets no network."""
        if self.metadata_port is None:
            return "user,model=virtio-net-pci" if self.network else "none"
        restrict = "" if self.network else ",restrict=on"
        relay = relay_command(self.metadata_port)
        return (f"user,model=virtio-net-pci,mac={GUEST_MAC},net=169.254.0.0/16,host=169.254.0.2{restrict},"
                f"guestfwd=tcp:169.254.169.254:80-cmd:{relay}")  # fmt: skip


def relay_command(port: int) -> str:
    """The shell command QEMU's guestfwd starts per connection: our relay by its own path, in an
    isolated Python (QEMU runs it through /bin/sh, in QEMU's working folder)."""
    from . import relay

    return shlex.join(hermetic.python(sys.executable, str(Path(relay.__file__).resolve()), str(port)))


def choose_accelerator(base: BootImage) -> str:
    """tcg or kvm for this machine (see accel.py): KVM only where a real boot of ``base`` works."""
    from .image import cache_dir

    return accel.choose(cache_dir(), probe=lambda: _kvm_boots(base))


def _kvm_boots(base: BootImage) -> bool:
    with tempfile.TemporaryDirectory(prefix="bootstrap-kvm-probe-") as folder:
        overlay, serial = Path(folder) / "probe.qcow2", Path(folder) / "serial.log"
        _run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base.disk), "-F", "qcow2", str(overlay)])
        command = [
            "qemu-system-x86_64", *accel.options("kvm"), "-machine", "q35", "-smp", "2", "-m", "512",
            "-nodefaults", "-display", "none", "-no-reboot", "-kernel", str(base.kernel), "-initrd", str(base.initrd),
            "-append", "root=LABEL=bootstrap-root ro console=ttyS0", "-drive", f"file={overlay},if=virtio,format=qcow2",
            "-nic", "none", "-serial", f"file:{serial}",
        ]  # fmt: skip
        return accel.qemu_runs(command, accel.PROBE_STAGES, serial)


class Machine:
    """``user_data``: what the NoCloud seed carries; None: no seed disk (a metadata server hands it over)."""

    def __init__(self, base: BootImage, user_data: bytes | None, *, instance_id: str, memory_mb: int = 1024,
                 keep: bool = False, workdir: Path | None = None, disk: Path | None = None,
                 data_disks: dict[str, Path] | None = None, setup: GuestSetup | None = None,
                 layer_port: bool = False):  # fmt: skip
        self.base = base
        self.layer_port = layer_port  # a builder's: the runner waits there at each layer's end (snapshot_disk)
        self._layer_connection: socket.socket | None = None
        self._heard = b""  # what the runner wrote to the layer port: a line not yet whole
        self.instance_id = instance_id
        self.memory_mb = memory_mb
        self.keep = keep
        leftovers.sweep()  # what earlier runs killed with SIGKILL left behind
        self.process: subprocess.Popen[bytes] | None = None
        self._base_in_use: locks.Shared | None = None
        self.dir = workdir or leftovers.scratch_dir("bootstrap-vm-")
        # Unix socket paths must stay under 108 bytes: the monitor lives in a short folder of its own.
        self.monitor = leftovers.scratch_dir("bootstrap-mon-") / "monitor.sock"
        try:  # a signal or an error before __enter__ returns must not leave the folders behind
            self.dir.mkdir(parents=True, exist_ok=True)
            self.disk = disk or self.dir / "disk.qcow2"
            self.seed = self.dir / "seed.iso"
            self.serial = self.dir / "serial.log"
            # Extra disks by serial: the guest sees /dev/disk/by-id/virtio-SERIAL. They outlive the machine.
            self.data_disks = data_disks or {}
            self.setup = setup or GuestSetup()
            # A base image is not replaced while a machine boots from it: its overlay reads it (locks.py).
            lock = getattr(base, "lock", None)
            self._base_in_use = locks.Shared(lock, f"the base image {base.disk.parent.name}") if lock else None
            self.accelerator = choose_accelerator(base)
            if not self.disk.exists():
                _run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base.disk), "-F", "qcow2", str(self.disk)])
            self.user_data = user_data
            if user_data is not None:
                self._write_seed()
        except BaseException:
            with interrupts.shielded():
                self.remove()
            raise

    def relaunch(self, instance_id: str) -> None:
        """The same disk as a new instance (as a golden image of it would boot): a new seed's instance id."""
        self.instance_id = instance_id
        if self.user_data is not None:
            self._write_seed()

    def _write_seed(self) -> None:
        """The NoCloud seed. Vendor data (cloud-init merges it under the user data) is where a test
        harness puts its own setup, so that the user data stays exactly what was rendered."""
        assert self.user_data is not None
        vendor_data = self.setup.vendor_data
        seed = self.dir / "seed"
        seed.mkdir(exist_ok=True)
        self.seed.unlink(missing_ok=True)
        (seed / "user-data").write_bytes(self.user_data)
        (seed / "meta-data").write_text(f"instance-id: {self.instance_id}\nlocal-hostname: bootstrap-test\n")
        files = [str(seed / "user-data"), str(seed / "meta-data")]
        if vendor_data is not None:
            (seed / "vendor-data").write_text(vendor_data)
            files.append(str(seed / "vendor-data"))
        _run(["genisoimage", "-quiet", "-output", str(self.seed), "-volid", "cidata", "-joliet", "-rock", *files])

    def __enter__(self) -> Machine:
        return self

    def __exit__(self, *exc: object) -> None:
        with interrupts.shielded():
            self.stop()
            if self.keep:
                shutil.rmtree(self.monitor.parent, ignore_errors=True)  # the disk and console stay
                leftovers.disown(self.dir)
                self._release_base()
            else:
                self.remove()

    def _release_base(self) -> None:
        if self._base_in_use is not None:
            self._base_in_use.release()

    def remove(self) -> None:
        """Stop QEMU and delete this machine's files (overlay, seed, console log, monitor socket)."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(self.monitor.parent, ignore_errors=True)
        self._release_base()

    def start(self) -> None:
        self.serial.write_bytes(b"")
        command = [
            "qemu-system-x86_64", *accel.options(self.accelerator), "-machine", "q35", "-smp", "2",
            "-m", str(self.memory_mb), "-nodefaults", "-display", "none", "-no-reboot",
            "-kernel", str(self.base.kernel), "-initrd", str(self.base.initrd),
            # panic=1: a panicked kernel restarts at once, and -no-reboot turns that into QEMU's exit.
            "-append", " ".join(["root=LABEL=bootstrap-root rw console=ttyS0 systemd.show_status=0 panic=1",
                                 *self.setup.kernel_args]),
            "-drive", f"file={self.disk},if=virtio,format=qcow2,id={ROOT_DRIVE}",
            *(["-device", "virtio-serial-pci", "-chardev", f"socket,id=layer,path={self._layer_socket},server=on,"
               "wait=off", "-device", f"virtserialport,chardev=layer,name={LAYER_PORT}"] if self.layer_port else []),
            *(["-drive", f"file={self.seed},if=virtio,format=raw,readonly=on"] if self.user_data is not None else []),
            *[arg for value in self.setup.smbios for arg in ("-smbios", value)],
            *[arg for serial, path in sorted(self.data_disks.items())
              for arg in ("-drive", f"file={path},if=none,id=disk-{serial},format=qcow2",
                          "-device", f"virtio-blk-pci,drive=disk-{serial},serial={serial}")],
            *[arg for serial, path in sorted(self.setup.read_only_disks.items())
              for arg in ("-drive", f"file={path},if=none,id=ro-{serial},format=raw,readonly=on",
                          "-device", f"virtio-blk-pci,drive=ro-{serial},serial={serial}")],
            "-nic", self.setup.nic(),
            "-serial", f"file:{self.serial}", "-monitor", f"unix:{self.monitor},server,nowait",
        ]  # fmt: skip
        self.process = hermetic.start(leftovers.tied(command))
        if self.layer_port:
            self._connect_layer_port()

    def _connect_layer_port(self, timeout: float = 30) -> None:
        """Connected for the machine's whole life: while no host is, the guest's reads of its port end at
        once, and a runner at a layer point must wait for the host's word."""
        deadline = time.monotonic() + timeout
        while True:
            sock = socket.socket(socket.AF_UNIX)
            try:
                sock.connect(str(self._layer_socket))
                self._layer_connection = sock
                return
            except OSError as exc:
                sock.close()
                if time.monotonic() > deadline or (self.process and self.process.poll() is not None):
                    raise BackendError(f"could not connect to the builder's layer port: {exc}") from exc
                interrupts.sleep(0.1)

    def console(self) -> str:
        return self.serial.read_text(errors="replace") if self.serial.exists() else ""

    def wait_for_result(self, timeout: float, progress: Callable[[str], None] | None = None,
                        wanted: tuple[str, ...] = ("ok", "failed", "rebooting")) -> GuestReport:  # fmt: skip
        """Poll the console until the runner reports this boot's result (or QEMU dies, or time runs out)."""
        start, seen, delay = time.monotonic(), 0, 0.5
        said = start
        while True:
            text = self.console()
            if progress:
                for line in text[seen:].splitlines():
                    if "bootstrap: step" in line or "BOOTSTRAP-RESULT" in line:
                        progress(line.strip())
                        said = time.monotonic()
                seen = len(text)
                if time.monotonic() - said >= HEARTBEAT:  # a long wait is never silent
                    progress(f"still waiting for the guest ({time.monotonic() - start:.0f} s); its console says: "
                             f"{_last_line(text)}")  # fmt: skip
                    said = time.monotonic()
            if found := guest.report(text, wanted):
                found.seconds = time.monotonic() - start
                return found
            self._stop_if_panicked(text)
            if self.process and self.process.poll() is not None:
                error = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise BackendError(f"QEMU exited ({self.process.returncode}) before bootstrap finished: {error[-500:]}"
                                   f"\nlast console lines:\n{_tail(text)}")  # fmt: skip
            if time.monotonic() - start > timeout:
                return GuestReport("timeout", None, guest.steps(text), text, time.monotonic() - start)
            interrupts.sleep(delay)
            delay = min(delay * 1.5, 3)

    def wait_for_text(self, pattern: re.Pattern[str], timeout: float) -> bool:
        """Wait until the console shows ``pattern`` (True), QEMU exits or time runs out (False)."""
        deadline = time.monotonic() + timeout
        while not pattern.search(text := self.console()):
            self._stop_if_panicked(text)
            if time.monotonic() > deadline or (self.process and self.process.poll() is not None):
                return False
            interrupts.sleep(1)
        return True

    def _stop_if_panicked(self, text: str) -> None:
        """A guest whose kernel panicked is dead: stopped at once, its panic said."""
        if (lines := guest.panic(text)) is not None:
            self.stop()
            raise GuestPanicked(f"the guest's kernel panicked ({self.instance_id}); its last console lines:\n{lines}")

    def wait_for_exit(self, timeout: float) -> bool:
        """Wait for the guest to power itself off (QEMU exits). False when it is still running."""
        if not self.process:
            return True
        try:
            self.process.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def power_off(self, timeout: float = 120) -> None:
        """ACPI power-off through the monitor (needs dbus/logind in the guest), then wait for QEMU;
        a panicked guest answers no ACPI: stopped at once."""
        if not self.process or self.process.poll() is not None:
            return
        if guest.panic(self.console()) is not None:
            self.stop()
            return
        try:
            self._monitor("system_powerdown")
            self.process.wait(timeout)
        except (OSError, subprocess.TimeoutExpired):
            self.stop()

    def _monitor(self, command: str, timeout: float = 5) -> str:
        """One command to QEMU's monitor; what it answered (an error is a line starting 'Error')."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(timeout)
            sock.connect(str(self.monitor))
            _read_until_prompt(sock)  # the monitor ignores commands sent before its banner ends
            sock.sendall(command.encode() + b"\n")
            return _read_until_prompt(sock).decode(errors="replace")

    @property
    def _layer_socket(self) -> Path:
        return self.monitor.parent / "layer.sock"

    def snapshot_disk(self, top: Path) -> Path:
        """Freeze the disk as it is now: QEMU writes on from a new overlay ``top`` over it (an external
        snapshot, while the guest runs); the disk that was written until now is returned, unchanged from
        here on. The guest waits at its layer point meanwhile (tell_guest ends the wait)."""
        answer = self._monitor(f"snapshot_blkdev {ROOT_DRIVE} {hmp_string(str(top))} qcow2", timeout=60)
        errors = [line.strip() for line in answer.splitlines() if line.strip().startswith("Error")]
        if errors or not top.is_file():
            raise BackendError(f"QEMU could not snapshot {self.disk} to {top}: {'; '.join(errors) or answer[-300:]}")
        frozen, self.disk = self.disk, top
        return frozen

    def hear_guest(self) -> list[str]:
        """The whole lines the runner has written to the layer port since the last call (never blocks)."""
        if self._layer_connection is None:
            return []
        self._layer_connection.setblocking(False)
        try:
            while chunk := self._layer_connection.recv(4096):
                self._heard += chunk
        except (BlockingIOError, InterruptedError):
            pass
        finally:
            self._layer_connection.setblocking(True)
        *lines, self._heard = self._heard.split(b"\n")
        return [line.decode(errors="replace").strip() for line in lines]

    def tell_guest(self, line: str, timeout: float = 10) -> None:
        """One line to the runner waiting at its layer point (the builder's port)."""
        if self._layer_connection is None:
            raise BackendError("this machine has no layer port")
        self._layer_connection.settimeout(timeout)
        self._layer_connection.sendall(line.encode() + b"\n")

    def stop(self) -> None:
        if self._layer_connection is not None:
            self._layer_connection.close()
            self._layer_connection = None
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)


def hmp_string(text: str) -> str:
    """``text`` as one argument of a monitor command: quoted and escaped as the monitor reads a string
    (a cache path with a space would split it, one with a line break would end the command)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def _read_until_prompt(sock: socket.socket) -> bytes:
    data = b""
    while b"(qemu)" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def create_disk(path: Path, size: str = "1G") -> Path:
    """An empty qcow2 disk, e.g. a persistent data disk that several machines use in turn."""
    _run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), size])
    return path


HEARTBEAT = 30.0  # seconds of a wait without a word before it says it is still waiting
ROOT_DRIVE = "root"  # the monitor's name of the machine's own disk
LAYER_PORT = "org.bootstrap.layer"  # the guest's /dev/virtio-ports/NAME (runner.sh.j2's layer_point)


class GuestPanicked(BackendError):
    """The guest's kernel panicked: no boot result will ever come."""


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][-200:] if lines else "(nothing yet)"


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _run(command: list[str]) -> None:
    proc = hermetic.run(command, timeout=600)
    if proc.returncode != 0:
        raise BackendError(f"{command[0]} failed: {proc.stderr.strip()[-1000:]}")
