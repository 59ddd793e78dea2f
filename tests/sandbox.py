"""A throwaway root in which rendered scripts run for real, in milliseconds.

The root borrows the host's ``/usr`` read-only (bash, coreutils, useradd... are real) and has
its own writable ``/etc``, ``/var``, ``/home``, ``/usr/local`` and a fresh ``/run`` per boot
(``/run`` is a tmpfs on a real machine). Commands that would touch the outside world
(``apt-get``, ``systemctl``, ``mount``, ``curl``, ``nvidia-smi``, ``lspci``...) are stubs
placed first on ``PATH``; each call is logged as one JSON line so a test can assert the exact
commands a phase issued, in order. ``apt-get install`` records packages that the
``dpkg-query`` stub then reports installed, so idempotence is observable.

Each run happens under ``unshare --mount --pid --fork`` and ``chroot``: nothing the script does
reaches the host. Requires root (CI and these machines run as root); tests skip otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from . import tiers

STUB_NAMES = (
    "apt-get", "dpkg-query", "systemctl", "hostnamectl", "timedatectl", "mount", "umount", "curl",
    "nvidia-smi", "lspci", "reboot", "shutdown", "modprobe", "mkfs.ext4", "blkid", "udevadm", "dpkg", "mokutil",
    "nvcc", "aws", "ss", "mountpoint", "mkfs.xfs",
)  # fmt: skip

# Crash points (tests/test_crash_convergence.py): with /stubs/crash-at holding N, the Nth call of any
# stub or wrapped tool marks /stubs/crashed and hangs there until the test pulls the power (SIGKILL of
# the whole machine). The count lives in /stubs, outside the machine's state.
CRASH_POINT = r"""if [ -f /stubs/crash-at ]; then  # bash builtins only (cat itself is wrapped); a pipeline's
  n="" at=""
  {  # processes count one at a time
    /usr/bin/flock 9
    n=0; read -r n 2>/dev/null </stubs/count || true; n=$((n + 1)); echo "$n" >/stubs/count
    read -r at </stubs/crash-at || true
  } 9>>/stubs/count.lock
  if [ -n "$at" ] && [ "$n" = "$at" ]; then echo "${0##*/} $*" >/stubs/crashed; exec /usr/bin/sleep 1000; fi
fi
"""
# A crash point of a tool a step runs as another user (as_user) counts too: crash_at makes the count,
# its lock and the marker writable by every user. (Unwritable, such a call read no point and matched
# an empty one: it hung without a marker, and the boot's later points were never reached.)
# Real tools a step writes files with: wrapped so that a crash can also fall between mktemp, cat and mv.
WRAPPED_TOOLS = ("mv", "cp", "chmod", "chown", "mkdir", "touch", "ln", "rm", "install", "mktemp", "cat", "tee")
WRAPPER = "#!/bin/bash\n" + CRASH_POINT + 'exec "/usr/bin/${0##*/}" "$@"\n'

# One stub script for every name: log the call, then act per name. A test sets a stub's exit
# code in /stubs/exit/NAME and its standard output in /stubs/out/NAME.
STUB = r"""#!/bin/bash
name=${0##*/}
""" + CRASH_POINT + r"""
{
  printf '{"cmd": "%s", "args": [' "$name"
  sep=""
  for a in "$@"; do
    a=${a//\\/\\\\}; a=${a//\"/\\\"}; a=${a//$'\n'/\\n}; a=${a//$'\r'/\\r}; a=${a//$'\t'/\\t}
    printf '%s"%s"' "$sep" "$a"; sep=", "
  done
  printf ']}\n'
} >>/var/log/stub-calls.jsonl
# What the real tools leave behind: `aws s3 cp SRC DEST` writes DEST; `micromamba ... create -n NAME`
# makes the environment, with a python that logs its calls too.
if [ "$name" = aws ] && [ "${1:-}" = s3 ] && [ "${2:-}" = cp ]; then
  cat "/stubs/out/aws" >"${!#}" 2>/dev/null; exit "$(cat /stubs/exit/aws 2>/dev/null || echo 0)"
fi
if [ "$name" = micromamba ] && [[ " $* " == *" create "* ]]; then
  prev=""
  for a in "$@"; do
    if [ "$prev" = -n ]; then mkdir -p "/opt/conda/envs/$a/bin"; cp "$0" "/opt/conda/envs/$a/bin/python"; fi
    prev=$a
  done
fi
# Per-call answers: /stubs/match/NAME holds lines "SUBSTRING<TAB>EXIT<TAB>OUTPUT-FILE"; the first line
# whose substring occurs in the arguments decides.
if [ -f "/stubs/match/$name" ]; then
  while IFS=$'\t' read -r pattern code file; do
    case "$*" in *"$pattern"*) [ -z "$file" ] || cat "$file"; exit "$code" ;; esac
  done <"/stubs/match/$name"
fi
if [ -f "/stubs/out/$name" ]; then cat "/stubs/out/$name"; [ -f "/stubs/exit/$name" ] || exit 0; fi
if [ -f "/stubs/exit/$name" ]; then exit "$(cat "/stubs/exit/$name")"; fi
case "$name" in
  apt-get)
    install=0
    for a in "$@"; do
      case "$a" in
        install) install=1 ;;
        -*|--) ;;
        *) if [ "$install" = 1 ]; then mkdir -p /var/lib/stub-dpkg; echo "${a#*=}" >"/var/lib/stub-dpkg/${a%%=*}"; fi ;;
      esac
    done ;;
  dpkg-query)
    pkg=${!#}
    [ -f "/var/lib/stub-dpkg/$pkg" ] || exit 1
    case "$*" in
      *Status*) printf 'install ok installed' ;;
      *Version*) cat "/var/lib/stub-dpkg/$pkg" | tr -d '\n' ;;
    esac ;;
  curl)  # downloads (--output FILE) succeed with stub content; metadata lookups find no server
    prev=""
    for a in "$@"; do
      if [ "$prev" = --output ]; then printf 'stub download\n' >"$a"; exit 0; fi
      prev=$a
    done
    exit 7 ;;
  nvidia-smi|nvcc|mokutil) exit 1 ;;
  # Filesystems and mounts keep state like the real tools: a formatted device reports its type,
  # a mounted path is a mount point (nothing is, unless a step or a test mounted it).
  mkfs.*) mkdir -p /var/lib/stub-fs; echo "${name#mkfs.}" >"/var/lib/stub-fs/$(echo "${!#}" | tr / _)" ;;
  blkid)
    state="/var/lib/stub-fs/$(echo "${!#}" | tr / _)"
    if [[ " $* " == *" TYPE "* ]] && [ -f "$state" ]; then tr -d '\n' <"$state"; exit 0; fi ;;
  mount) mkdir -p /var/lib/stub-mounts; touch "/var/lib/stub-mounts/$(echo "${!#}" | tr / _)" ;;
  mountpoint) [ -e "/var/lib/stub-mounts/$(echo "${!#}" | tr / _)" ] && exit 0; exit 1 ;;
  lspci) exit 0 ;;
esac
exit 0
"""

INNER = r"""set -e
R=$1; shift
mount --bind /usr "$R/usr"
mount -o remount,bind,ro "$R/usr"
mount --bind "$R/../usr-local" "$R/usr/local"
for d in bin sbin lib lib64; do [ -L "/$d" ] && ln -sfn "usr/$d" "$R/$d"; done
for n in null zero random urandom; do touch "$R/dev/$n"; mount --bind "/dev/$n" "$R/dev/$n"; done
mount -t proc proc "$R/proc"
exec chroot "$R" /usr/bin/env -i HOME=/root TERM=dumb BOOTSTRAP_RETRY_DELAY=0 \
  PATH=/stubs:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
"""

ETC_FILES = ("passwd", "group", "shadow", "gshadow", "login.defs", "nsswitch.conf", "default/useradd")


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def available() -> str | None:
    """None when sandboxes can run here, else the reason they cannot."""
    if os.geteuid() != 0:
        return "sandbox needs root"
    if not shutil.which("unshare"):
        return "unshare is missing"
    probe = subprocess.run(["unshare", "--mount", "--pid", "--fork", "true"], capture_output=True)
    if probe.returncode != 0:
        return f"unshare failed: {probe.stderr.decode().strip()}"
    return None


class Sandbox:
    def __init__(self, base: Path):
        tiers.require("sandbox", "builds a throwaway root")
        self.base = base
        self.root = base / "root"
        for d in (
            "etc/default",
            "etc/skel",
            "var/log",
            "var/lib",
            "var/tmp",
            "run",
            "tmp",
            "home",
            "root",
            "proc",
            "dev",
            "usr",
            "stubs/exit",
            "stubs/out",
        ):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        (base / "usr-local").mkdir(exist_ok=True)
        (self.root / "tmp").chmod(0o1777)
        for name in ETC_FILES:
            source = Path("/etc") / name
            if source.exists():
                shutil.copy2(source, self.root / "etc" / name)
        # Debian's awk, editor, pager... are symlinks through /etc/alternatives.
        subprocess.run(["cp", "-a", "/etc/alternatives", str(self.root / "etc")], check=False)
        (self.root / "etc/hostname").write_text("sandbox\n")
        (self.root / "etc/hosts").write_text("127.0.0.1 localhost\n")
        self.set_os("debian", "12", "Debian GNU/Linux 12 (bookworm)")
        apt = self.root / "etc/apt/sources.list.d"
        apt.mkdir(parents=True, exist_ok=True)
        (apt / "debian.sources").write_text(  # as on Debian 12's cloud images
            "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n"
            "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        )
        for name in STUB_NAMES:
            stub = self.root / "stubs" / name
            stub.write_text(STUB)
            stub.chmod(0o755)
        for name in WRAPPED_TOOLS:
            if Path("/usr/bin", name).exists():
                (self.root / "stubs" / name).write_text(WRAPPER)
                (self.root / "stubs" / name).chmod(0o755)
        self.new_instance("i-sandbox-1")

    # --- machine lifecycle -------------------------------------------------------------
    def new_instance(self, instance_id: str) -> None:
        """What a new instance id looks like to the runner (cloud-init's record of it)."""
        path = self.root / "var/lib/cloud/data/instance-id"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(instance_id + "\n")

    def reboot(self) -> None:
        """/run is a tmpfs: a reboot empties it."""
        shutil.rmtree(self.root / "run")
        (self.root / "run").mkdir()

    def answer(self, name: str, pattern: str, output: str | bytes = "", exit_code: int = 0) -> None:
        """Make stub NAME answer calls whose arguments contain PATTERN (first added wins)."""
        folder = self.root / "stubs" / "match"
        folder.mkdir(exist_ok=True)
        index = len(list(folder.glob(f"{name}.*")))
        response = folder / f"{name}.{index}"
        response.write_bytes(output.encode() if isinstance(output, str) else output)
        with (folder / name).open("a") as table:
            table.write(f"{pattern}\t{exit_code}\t/stubs/match/{response.name}\n")

    def install_stub(self, inside: str) -> None:
        """A logging stub at any path (e.g. a program a step downloads or builds)."""
        path = self.path(inside)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(STUB)
        path.chmod(0o755)

    def set_os(self, os_id: str, version: str, pretty: str) -> None:
        (self.root / "etc/os-release").write_text(f'ID={os_id}\nVERSION_ID="{version}"\nPRETTY_NAME="{pretty}"\n')

    def install_package(self, name: str, version: str = "1.0") -> None:
        """What the dpkg-query stub then reports as installed."""
        (self.root / "var/lib/stub-dpkg").mkdir(parents=True, exist_ok=True)
        (self.root / "var/lib/stub-dpkg" / name).write_text(version + "\n")

    # --- running -------------------------------------------------------------------------
    def run(self, *command: str, timeout: float = 60) -> Result:
        isolate = ["unshare", "--mount", "--uts", "--ipc", "--pid", "--fork"]
        proc = subprocess.run(
            [*isolate, "bash", "-c", INNER, "inner", str(self.root), *command],
            capture_output=True, timeout=timeout,
        )  # fmt: skip
        # Decoded by hand: text=True would turn every "\r" into "\n" (universal newlines).
        return Result(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))

    def crash_at(self, point: int, *command: str, timeout: float = 60) -> bool:
        """Run ``command`` and pull the power at its ``point``-th crash point (see CRASH_POINT): every
        process of the machine dies with SIGKILL at once. False when it ended before getting there."""
        marker, count = self.root / "stubs" / "crashed", self.root / "stubs" / "count"
        for shared in (marker, count, self.root / "stubs" / "count.lock"):  # see CRASH_POINT
            shared.write_text("")
            shared.chmod(0o666)
        (self.root / "stubs" / "crash-at").write_text(str(point))
        isolate = ["unshare", "--mount", "--uts", "--ipc", "--pid", "--fork", "--kill-child"]
        proc = subprocess.Popen([*isolate, "bash", "-c", INNER, "inner", str(self.root), *command],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            deadline = time.monotonic() + timeout
            while not marker.stat().st_size and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            crashed = marker.stat().st_size > 0
        finally:
            proc.kill()  # --kill-child: the machine's init, and with it every process, dies too
            proc.wait(30)
            (self.root / "stubs" / "crash-at").unlink(missing_ok=True)
        return crashed

    def crash_points(self) -> int:
        """How many crash points the last run passed (after a run with crash_at(huge))."""
        count = self.root / "stubs" / "count"
        return int(count.read_text()) if count.exists() else 0

    def run_script(self, script: str | bytes, *args: str) -> Result:
        """Copy a rendered script into the root and run it with bash."""
        data = script.encode() if isinstance(script, str) else script
        (self.root / "tmp/script.sh").write_bytes(data)
        return self.run("bash", "/tmp/script.sh", *args)

    def boot(self, script: str | bytes | None = None) -> Result:
        """One boot: /run emptied, then the script (or the installed runner) runs."""
        self.reboot()
        if script is not None:
            return self.run_script(script)
        return self.run("/usr/local/lib/bootstrap/runner", "boot")

    # --- observing -------------------------------------------------------------------------
    def path(self, inside: str) -> Path:
        if inside.startswith("/usr/local/"):
            return self.base / "usr-local" / inside[len("/usr/local/") :]
        return self.root / inside.lstrip("/")

    def read(self, inside: str) -> str:
        return self.path(inside).read_text()

    def exists(self, inside: str) -> bool:
        return self.path(inside).exists()

    def status(self) -> dict:
        return json.loads(self.read("/var/lib/bootstrap/status.json"))

    def calls(self, name: str | None = None) -> list[list[str]]:
        log = self.path("/var/log/stub-calls.jsonl")
        if not log.exists():
            return []
        calls = [json.loads(line) for line in log.read_text().splitlines()]
        return [[c["cmd"], *c["args"]] for c in calls if name is None or c["cmd"] == name]

    def clear_calls(self) -> None:
        self.path("/var/log/stub-calls.jsonl").unlink(missing_ok=True)

    def set_stub(self, name: str, *, exit_code: int | None = None, output: str | None = None) -> None:
        for folder, value in (("exit", exit_code), ("out", output)):
            path = self.root / "stubs" / folder / name
            if value is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(str(value))
