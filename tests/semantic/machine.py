"""A sandbox machine for the semantic tier: tests/sandbox.py's throwaway root, with the tools a boot
reaches emulated well enough to fail where a real machine fails (tests/semantic/emulate.py), the
cloud it runs on (metadata service, the instance's credentials, the secrets its role may read, the
objects in its buckets), its disks and its GPU; and each target booted the way its cloud boots it.

What the machine is comes from the profile (its secrets, buckets, disks) and from the corpus file's
leading comments, for what a profile cannot say (see tests/semantic/test_semantic.py: ``# machine:``,
``# disk:``, ``# os:``, ``# installed:``).
"""

from __future__ import annotations

import base64
import email
import gzip
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..sandbox import STUB, STUB_NAMES, Result, Sandbox

HERE = Path(__file__).resolve().parent
LAYOUT_RUNNER = "/usr/local/lib/bootstrap/runner"

# The stubs hand these to emulate.py, after logging the call (and passing the crash point).
EMULATED = ("apt-get|dpkg|systemctl|blkid|mount|umount|mountpoint|mkfs.*|micromamba|python|python3|nvidia-smi|"
            "lspci|modprobe|nvcc|aws|gcloud|curl|git|docker|hostnamectl")  # fmt: skip
_HOOK = "# What the real tools leave behind"
assert _HOOK in STUB, "tests/sandbox.py's stub changed: update the semantic tier's hook into it"
# A call goes to the run's emulate.py server (emulate.py serve) through a FIFO, in a folder of its own.
RPC = r"""case "$name" in
  EMULATED)
    if [ -p /run/stub-emul/rpc ]; then
      req=$(/usr/bin/mktemp -d /tmp/.stub-call.XXXXXX)
      /usr/bin/mkfifo "$req/reply"
      printf '%s\0' "$EUID" "$PWD" "$0" "$@" >"$req/args"
      /usr/bin/env -0 >"$req/env"
      if [[ " $* " == *" @- "* || " $* " == *" --password-stdin "* ]]; then /usr/bin/cat >"$req/stdin"; fi
      printf '%s\n' "$req" >/run/stub-emul/rpc
      read -r rc <"$req/reply"
      /usr/bin/cat "$req/out"
      /usr/bin/cat "$req/err" >&2
      /usr/bin/rm -rf "$req"
      exit "${rc:-70}"
    fi
    exec /usr/bin/python3 -I /stubs/emulate.py "$0" "$@" ;;
esac
""".replace("EMULATED", EMULATED)
SEMANTIC_STUB = STUB.replace(_HOOK, RPC + _HOOK)
# No waiting in the sandbox: a loop that waits for a device or a mount runs its course at once.
FAST_SLEEP = "#!/bin/bash\nexit 0\n"

INNER = r"""set -e
R=$1; shift
mount --bind /usr "$R/usr"
mount -o remount,bind,ro "$R/usr"
mount --bind "$R/../usr-local" "$R/usr/local"
mount --bind "$R/../keyrings" "$R/usr/share/keyrings"
for d in bin sbin lib lib64; do [ -L "/$d" ] && ln -sfn "usr/$d" "$R/$d"; done
for n in null zero random urandom; do touch "$R/dev/$n"; mount --bind "/dev/$n" "$R/dev/$n"; done
mount -t proc proc "$R/proc"
exec chroot "$R" /usr/bin/env -i HOME=/root TERM=dumb BOOTSTRAP_RETRY_DELAY=0 \
  PATH=/stubs:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/bash -c "$POWER_ON" boot "$@"
"""
# Inside the machine, first: power-on and the emulation's server (emulate.py), then the command.
POWER_ON = r"""token=$RANDOM$RANDOM
/usr/bin/python3 -I /stubs/emulate.py --serve "$token" </dev/null >>/var/log/stub-emulate.log 2>&1 &
for _ in $(seq 1 2000); do [ -e "/run/stub-emul/ready.$token" ] && break; /usr/bin/sleep 0.005; done
exec "$@"
"""

OS_RELEASES = {
    "debian 12": ("debian", "12", "Debian GNU/Linux 12 (bookworm)", "bookworm"),
    "ubuntu 22.04": ("ubuntu", "22.04", "Ubuntu 22.04.5 LTS", "jammy"),
    "ubuntu 24.04": ("ubuntu", "24.04", "Ubuntu 24.04.2 LTS", "noble"),
}
INSTANCE_IDS = {"aws": "i-0123456789abcdef0", "gcp": "4123456789012345678", "none": "i-sandbox-1"}
REGION = "eu-west-1"


@dataclass
class Disk:
    """A disk attached to the machine: its device file, the names the cloud's udev rules give it, and
    the filesystem it already holds (None: an empty disk)."""

    device: str
    links: list[str] = field(default_factory=list)
    filesystem: str | None = None
    label: str = ""
    uuid: str = ""


@dataclass
class MachineSpec:
    cloud: str = "aws"  # aws, gcp, or none: whose metadata service and credentials the machine has
    gpu: bool = False
    os: str = "debian 12"
    disks: list[Disk] = field(default_factory=list)
    installed: list[str] = field(default_factory=list)  # packages the image already has
    cloud_init: bool = True  # the image runs cloud-init (GCE's own images do not)
    micromamba: str = "2.0.5"
    secrets: dict[str, str] = field(default_factory=dict)  # reference -> value the instance's role may read
    objects: dict[str, str] = field(default_factory=dict)  # s3:// or gs:// URL -> content


def metadata(spec: MachineSpec) -> dict[str, str]:
    """What the machine's metadata service answers, by path (none off the clouds)."""
    instance = INSTANCE_IDS[spec.cloud]
    if spec.cloud == "aws":
        return {"latest/api/token": "AQAEAsemantic-imds-token==", "latest/meta-data/placement/region": REGION,
                "latest/meta-data/instance-id": instance}  # fmt: skip
    if spec.cloud == "gcp":
        token = {"access_token": "ya29.semantic-token", "expires_in": 3599, "token_type": "Bearer"}
        return {"computeMetadata/v1/instance/id": instance,
                "computeMetadata/v1/instance/service-accounts/default/token": json.dumps(token)}  # fmt: skip
    return {}


class Machine(Sandbox):
    def __init__(self, base: Path, spec: MachineSpec):
        super().__init__(base)
        self.spec = spec
        (base / "keyrings").mkdir(exist_ok=True)
        stubs = self.root / "stubs"
        (stubs / ".stub").write_text(SEMANTIC_STUB)
        for name in (*STUB_NAMES, "git", "gcloud"):
            (stubs / name).write_text(SEMANTIC_STUB)
            (stubs / name).chmod(0o755)
        (stubs / "sleep").write_text(FAST_SLEEP)
        (stubs / "sleep").chmod(0o755)
        shutil.copy(HERE / "emulate.py", stubs / "emulate.py")
        config = {"cloud": spec.cloud, "gpu": spec.gpu, "micromamba": spec.micromamba, "secrets": spec.secrets,
                  "objects": spec.objects, "metadata": metadata(spec)}  # fmt: skip
        (stubs / "semantic.json").write_text(json.dumps(config, indent=1))
        os_id, version, pretty, codename = OS_RELEASES[spec.os]
        (self.root / "etc/os-release").write_text(
            f'ID={os_id}\nVERSION_ID="{version}"\nPRETTY_NAME="{pretty}"\nVERSION_CODENAME={codename}\n'
        )
        if os_id == "ubuntu":  # Ubuntu's cloud images: one sources file, main and restricted
            (self.root / "etc/apt/sources.list.d/debian.sources").unlink()
            (self.root / "etc/apt/sources.list.d/ubuntu.sources").write_text(
                f"Types: deb\nURIs: http://archive.ubuntu.com/ubuntu\nSuites: {codename} {codename}-updates\n"
                "Components: main restricted universe multiverse\n"
                "Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg\n"
            )
        self._accounts(os_id)
        self.install_stub("/opt/conda/bin/micromamba")  # what the sha256-checked download would be
        (self.path("/opt/conda/bin/micromamba")).write_text(SEMANTIC_STUB)
        for package in spec.installed:
            self.install_package(package, "1.1-1" if package == "cuda-keyring" else "1.0")
            if package == "cuda-keyring":  # and what it installs: NVIDIA's repository in the sources
                repo = f"{os_id}{version.replace('.', '')}"
                (self.root / f"etc/apt/sources.list.d/cuda-{repo}-x86_64.list").write_text(
                    "deb [signed-by=/usr/share/keyrings/cuda-archive-keyring.gpg] "
                    f"https://developer.download.nvidia.com/compute/cuda/repos/{repo}/x86_64/ /\n"
                )
        self._attach(spec.disks)
        if spec.cloud_init:
            self.new_instance(INSTANCE_IDS[spec.cloud])  # cloud-init's record of the instance
        else:
            (self.root / "var/lib/cloud/data/instance-id").unlink()

    def _accounts(self, os_id: str) -> None:
        """The image's accounts, not the host's: system ones, and the cloud image's default user (uid
        1000: admin on Debian's images, ubuntu on Ubuntu's)."""
        default = "ubuntu" if os_id == "ubuntu" else "admin"
        kept: set[str] = set()
        for name, id_field in (("passwd", 2), ("group", 2)):
            path = self.root / "etc" / name
            lines = [line for line in path.read_text().splitlines()
                     if len(line.split(":")) > id_field and (int(line.split(":")[id_field]) < 1000
                                                           or line.split(":")[id_field] == "65534")]  # fmt: skip
            kept |= {line.split(":")[0] for line in lines}
            lines.append(f"{default}:x:1000:1000:{default}:/home/{default}:/bin/bash" if name == "passwd"
                         else f"{default}:x:1000:")  # fmt: skip
            path.write_text("\n".join(lines) + "\n")
        for name in ("shadow", "gshadow"):
            path = self.root / "etc" / name
            if path.exists():
                lines = [line for line in path.read_text().splitlines() if line.split(":")[0] in kept]
                lines.append(f"{default}:*:20000:0:99999:7:::" if name == "shadow" else f"{default}:!::")
                path.write_text("\n".join(lines) + "\n")
        (self.root / "home" / default).mkdir(mode=0o755, exist_ok=True)
        os.chown(self.root / "home" / default, 1000, 1000)

    def _attach(self, disks: list[Disk]) -> None:
        table = {}
        for disk in disks:
            device = self.path(disk.device)
            device.parent.mkdir(parents=True, exist_ok=True)
            device.touch()
            for link in disk.links:
                path = self.path(link)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.symlink_to(disk.device)
            if disk.filesystem:
                table[disk.device] = {"type": disk.filesystem, "label": disk.label, "uuid": disk.uuid}
                for kind, value in (("by-label", disk.label), ("by-uuid", disk.uuid)):
                    if value:
                        link = self.path(f"/dev/disk/{kind}/{value}")
                        link.parent.mkdir(parents=True, exist_ok=True)
                        link.symlink_to(disk.device)
        state = self.path("/var/lib/stub-emul/filesystems.json")
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text(json.dumps(table))

    # --- running ---------------------------------------------------------------------------------------
    def run(self, *command: str, timeout: float = 120) -> Result:
        isolate = ["unshare", "--mount", "--uts", "--ipc", "--pid", "--fork"]
        env = {**os.environ, "POWER_ON": POWER_ON}
        command_line = [*isolate, "bash", "-c", INNER, "inner", str(self.root), *command]
        proc = subprocess.run(command_line, capture_output=True, timeout=timeout, env=env)
        return Result(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))

    def reboot(self) -> None:
        """Power off (what was mounted is remembered, for what each filesystem holds) and on: /run empty."""
        mounts = self.path("/run/stub-emul/mounts.json")
        last = self.path("/var/lib/stub-emul/last-mounts.json")
        last.parent.mkdir(parents=True, exist_ok=True)
        last.write_text(mounts.read_text() if mounts.exists() else "{}")
        super().reboot()

    # --- observing --------------------------------------------------------------------------------------
    def emulated(self, name: str, default: Any) -> Any:
        for folder in ("/run/stub-emul", "/var/lib/stub-emul"):
            path = self.path(f"{folder}/{name}")
            if path.exists():
                return json.loads(path.read_text())
        return default

    def units(self) -> dict[str, dict[str, str]]:
        return self.emulated("units.json", {})

    def enabled(self) -> list[str]:
        return self.emulated("enabled.json", [])

    def hidden_by_mounts(self) -> list[dict[str, Any]]:
        log = self.path("/var/lib/stub-emul/hidden.jsonl")
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def power(self) -> str:
        path = self.path("/run/stub-emul/power")
        return path.read_text().strip() if path.exists() else ""


# --- cloud-init --------------------------------------------------------------------------------------------
KNOWN_CLOUD_CONFIG = {"write_files", "hostname", "fqdn", "preserve_hostname"}


class CloudInit:
    """What cloud-init does with our user data (the real one is proven by the VM tier): on an instance's
    first boot, write_files and the host name in its init stage, then its scripts; on every boot the
    per-boot scripts (and the host name again, unless preserve_hostname), first-boot scripts only once."""

    def __init__(self, user_data: bytes):
        if user_data[:2] == b"\x1f\x8b":  # EC2 user data gzipped when over 16 KiB: cloud-init unpacks it
            user_data = gzip.decompress(user_data)
        message = email.message_from_bytes(user_data)
        self.config: dict[str, Any] = {}
        self.per_boot: list[bytes] = []
        self.per_instance: list[bytes] = []
        for part in message.walk():
            if part.is_multipart():
                continue
            body = part.get_payload(decode=True)
            kind = part.get_content_type()
            if kind == "text/cloud-config":
                self.config.update(yaml.safe_load(body))
            elif kind == "text/x-shellscript-per-boot":
                self.per_boot.append(body)
            elif kind == "text/x-shellscript":
                self.per_instance.append(body)
            else:
                raise AssertionError(f"cloud-init emulation: a {kind} part is new here; emulate what cloud-init does")
        unknown = set(self.config) - KNOWN_CLOUD_CONFIG
        assert not unknown, f"cloud-init emulation: cloud-config keys {sorted(unknown)} are new here; emulate them"
        self.instances_done: set[str] = set()

    def _hostname(self, machine: Machine) -> None:
        if "hostname" in self.config and not self.config.get("preserve_hostname", False):
            machine.path("/etc/hostname").write_text(self.config["hostname"] + "\n")

    def _write_files(self, machine: Machine) -> None:
        for item in self.config.get("write_files", []):
            unknown = set(item) - {"path", "content", "permissions", "owner", "encoding"}
            assert not unknown, f"cloud-init emulation: write_files keys {sorted(unknown)} are new here"
            data = item.get("content", "").encode()
            encoding = item.get("encoding", "text/plain")
            if encoding in ("b64", "base64"):
                data = base64.b64decode(data)
            elif encoding in ("gz+b64", "gzip+base64", "gz+base64"):
                data = gzip.decompress(base64.b64decode(data))
            target = machine.path(item["path"])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            target.chmod(int(item.get("permissions", "0644"), 8))
            assert item.get("owner", "root:root") == "root:root", "cloud-init emulation: only root-owned files"

    def boot(self, machine: Machine, instance: str) -> list[Result]:
        machine.reboot()
        self._hostname(machine)
        first = instance not in self.instances_done
        if first:
            self._write_files(machine)
        results = [machine.run_script(script) for script in self.per_boot]
        if first:
            results += [machine.run_script(script) for script in self.per_instance]
            self.instances_done.add(instance)
        return results


# --- booting a target -------------------------------------------------------------------------------------
@dataclass
class Boot:
    number: int
    result: str  # the runner's status.json result, or "none" when nothing ran
    returncode: int
    output: str
    failed_step: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)


class Booter:
    """Boots one machine with one target's rendered output, as that target's cloud does on each boot:

    * bash: ``sudo bash setup.sh`` once; later boots, systemd runs bootstrap.service if it was enabled;
    * gce: the startup-script runs in full on every boot;
    * cloud-init, ec2: see CloudInit."""

    def __init__(self, machine: Machine, target: str, output: bytes):
        self.machine, self.target, self.output = machine, target, output
        self.cloud_init = CloudInit(output) if target in ("cloud-init", "ec2") else None
        self.boots: list[Boot] = []

    def boot(self) -> Boot:
        machine = self.machine
        status = machine.path("/var/lib/bootstrap/status.json")
        before = status.read_bytes() if status.exists() else b""
        if self.cloud_init is not None:
            results = self.cloud_init.boot(machine, INSTANCE_IDS[machine.spec.cloud])
        elif self.target == "gce" or not self.boots:
            results = [machine.boot(self.output)]
        else:
            machine.reboot()
            results = [machine.run(LAYOUT_RUNNER, "boot")] if "bootstrap.service" in machine.enabled() else []
        output = "".join(r.stdout + r.stderr for r in results)
        rc = max((r.returncode for r in results), default=0)
        if not status.exists() or status.read_bytes() == before:
            record = Boot(len(self.boots) + 1, "none", rc, output or "nothing ran this boot")
        else:
            data = machine.status()
            failed = next((s["id"] for s in data["steps"] if s["status"] == "failed"), "")
            record = Boot(len(self.boots) + 1, str(data["result"]), rc, output, failed, data["steps"])
        self.boots.append(record)
        return record

    def first_boot(self, reboots: int = 3) -> Boot:
        """Boots until the first boot is over: its steps may ask for reboots (a new driver)."""
        record = self.boot()
        while record.result == "rebooting" and reboots > 0:
            assert self.machine.power() == "reboot", "the runner said rebooting but asked no one to reboot"
            record = self.boot()
            reboots -= 1
        return record


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]
