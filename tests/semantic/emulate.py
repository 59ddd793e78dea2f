"""What the real tools do, inside a semantic-tier machine (tests/semantic/machine.py).

The sandbox's stubs (tests/sandbox.py) log each call and answer it; for the tools below that is not
enough to tell whether a boot would work on a real machine, so the stub hands the call to this file,
run by the host's python3 inside the machine's chroot. Each tool keeps the state the real one keeps,
and fails where the real one fails:

* apt-get / dpkg: packages installed are recorded (dpkg-query reports them); a package from a
  repository the image lacks (NVIDIA's CUDA repository, Google's gcsfuse one) is found only when
  that repository was added and the lists were refreshed since; installed packages bring their
  commands, systemd units and files (docker, nvidia-smi, nvcc, mount-s3...).
* systemctl: units exist only when a file or a package provides them; enabled units start at boot;
  a started service is active only while its user, working directory, program and token file are
  there (what systemd would need to run it); FUSE mount services mount their bucket.
* mkfs.* / blkid / mount / umount / mountpoint: a device holds a filesystem once formatted (udev
  then shows its label and UUID under /dev/disk), mount needs a device with a filesystem (or the
  NFS helper), mounts last until the next boot (fstab mounts them again at boot), and files a
  mount hides (written under its mount point before it was mounted) are recorded.
* micromamba and an environment's python: environments hold the packages their spec lists, with
  those packages' commands; ``python -m`` and ``python -c 'import ...'`` need the package.
* nvidia-smi, lspci, modprobe, nvcc: a GPU on the PCI bus when the machine has one; the driver
  package's module loads after a reboot (as when nouveau holds the GPU), and CUDA's nvcc exists
  once the toolkit is installed.
* aws, gcloud, curl's metadata answers: the instance's own credentials on its own cloud only.
* git, docker: clones and registry logins that need credentials fail without them.
* hostnamectl: the name is set (and set again at boot from /etc/hostname).

``python3 emulate.py --boot`` is what the machine does at power-on before any of our scripts run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

CONFIG_FILE = "/stubs/semantic.json"
STATE = Path("/var/lib/stub-emul")  # survives reboots (the disk)
BOOT = Path("/run/stub-emul")  # this boot only (/run is a tmpfs)
DPKG = Path("/var/lib/stub-dpkg")  # shared with the sandbox's dpkg-query stub
STUB_FILE = "/stubs/.stub"  # the logging stub itself, copied for commands packages bring


def config() -> dict:
    try:
        return json.loads(Path(CONFIG_FILE).read_text())
    except FileNotFoundError:
        return {}


def load(path: Path, default):
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return default


def save(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=1, sort_keys=True))
    tmp.replace(path)


def say(message: str) -> None:
    print(message, file=sys.stderr)


def installed(package: str) -> bool:
    return (DPKG / package).is_file()


def installed_matching(pattern: str) -> list[str]:
    return sorted(p.name for p in DPKG.glob("*") if re.fullmatch(pattern, p.name)) if DPKG.is_dir() else []


def os_release() -> dict[str, str]:
    values = {}
    for line in Path("/etc/os-release").read_text().splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            values[key] = value.strip('"')
    return values


def cuda_repo() -> str:
    release = os_release()
    return {"debian12": "debian12", "ubuntu22.04": "ubuntu2204", "ubuntu24.04": "ubuntu2404"}.get(
        release.get("ID", "") + release.get("VERSION_ID", ""), "unknown"
    )


# --- users -----------------------------------------------------------------------------------------
def passwd() -> dict[str, tuple[int, int, str]]:
    users = {}
    for line in Path("/etc/passwd").read_text().splitlines():
        parts = line.split(":")
        if len(parts) >= 7:
            users[parts[0]] = (int(parts[2]), int(parts[3]), parts[5])
    return users


def groups_of(user: str) -> set[int]:
    entry = passwd().get(user)
    found = {entry[1]} if entry else set()
    for line in Path("/etc/group").read_text().splitlines():
        parts = line.split(":")
        if len(parts) >= 4 and user in parts[3].split(","):
            found.add(int(parts[2]))
    return found


def readable_by(user: str, path: str) -> bool:
    """Whether USER could read PATH (every folder on the way searchable, the file readable)."""
    entry = passwd().get(user)
    if entry is None:
        return False
    uid, groups = entry[0], groups_of(user)
    if uid == 0:
        return os.path.exists(path)
    current = "/"
    parts = [p for p in path.split("/") if p]
    for index, part in enumerate(parts):
        current = os.path.join(current, part)
        try:
            info = os.stat(current)
        except OSError:
            return False
        want = 0o4 if index == len(parts) - 1 else 0o1
        if info.st_uid == uid:
            bits = (info.st_mode >> 6) & 7
        elif info.st_gid in groups:
            bits = (info.st_mode >> 3) & 7
        else:
            bits = info.st_mode & 7
        if not bits & want:
            return False
    return True


# --- packages --------------------------------------------------------------------------------------
# What installing a package brings: commands (on PATH through /stubs), systemd units, and whether it
# starts its service itself (Debian's maintainer scripts do).
PROVIDES: dict[str, dict] = {
    "docker.io": {
        "commands": ["docker", "dockerd"],
        "units": ["docker.service", "docker.socket", "containerd.service"],
        "starts": True,
    },
    "docker-ce": {"commands": ["docker", "dockerd"], "units": ["docker.service", "docker.socket"], "starts": True},
    "containerd": {"commands": ["containerd", "ctr"], "units": ["containerd.service"], "starts": True},
    "nvidia-container-toolkit": {"commands": ["nvidia-ctk", "nvidia-container-cli"]},
    "nfs-common": {"commands": ["mount.nfs", "mount.nfs4"], "units": ["rpc-statd.service", "nfs-client.target"]},
    "fuse": {"commands": ["fusermount"]},
    "fuse3": {"commands": ["fusermount3"]},
    "mount-s3": {"commands": ["mount-s3"]},
    "gcsfuse": {"commands": ["gcsfuse"]},
    "git": {"commands": ["git"]},
    "nginx": {"commands": ["nginx"], "units": ["nginx.service"], "starts": True},
    "redis-server": {"commands": ["redis-server", "redis-cli"], "units": ["redis-server.service"], "starts": True},
    "prometheus-node-exporter": {
        "commands": ["prometheus-node-exporter"],
        "units": ["prometheus-node-exporter.service"],
        "starts": True,
    },
    "xfsprogs": {"commands": ["xfs_admin"]},
    "awscli": {"commands": ["aws"]},
    "rclone": {"commands": ["rclone"]},
    "dkms": {"commands": ["dkms"]},
    "acl": {"commands": ["setfacl", "getfacl"]},
    "nvme-cli": {"commands": ["nvme"]},
}
# Packages only a repository the image does not have by default serves: (source text that must be in
# the apt sources when the lists were last refreshed, what adds it).
REPOSITORIES = [
    (
        r"cuda-(drivers|toolkit)-.*|cudnn.*|libcudnn.*|libnccl.*",
        "developer.download.nvidia.com",
        "NVIDIA's CUDA repository (cuda-keyring)",
    ),
    (r"gcsfuse", "packages.cloud.google.com/apt gcsfuse", "Google's gcsfuse repository"),
    (r"docker-ce.*|containerd\.io", "download.docker.com", "Docker's repository"),
]
# What the image already has running or installable as a unit without any package.
BASE_UNITS = {
    "ssh.service", "sshd.service", "cron.service", "systemd-timesyncd.service", "systemd-resolved.service",
    "systemd-networkd.service", "networking.service", "multi-user.target", "network-online.target",
    "network.target", "timers.target", "local-fs.target", "remote-fs.target", "cloud-init.service",
    "cloud-config.service", "cloud-final.service", "unattended-upgrades.service", "apt-daily.timer",
    "apt-daily-upgrade.timer", "systemd-journald.service", "rsyslog.service", "chrony.service",
    "google-guest-agent.service", "google-startup-scripts.service", "snapd.service",
}  # fmt: skip


def sources_text() -> str:
    text = []
    for base in (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d")):
        files = sorted(base.glob("*")) if base.is_dir() else [base]
        for file in files:
            if file.is_file():
                text.append(file.read_text(errors="replace"))
    return "\n".join(text)


def add_command(name: str) -> None:
    target = Path("/stubs") / name
    if not target.exists():
        target.write_text(Path(STUB_FILE).read_text())
        target.chmod(0o755)


def install_package(name: str, version: str) -> None:
    DPKG.mkdir(parents=True, exist_ok=True)
    (DPKG / name).write_text(version + "\n")
    brings = PROVIDES.get(name, {})
    for command in brings.get("commands", []):
        add_command(command)
    if brings.get("units"):
        units = load(STATE / "package-units.json", [])
        save(STATE / "package-units.json", sorted({*units, *brings["units"]}))
        if brings.get("starts"):
            for unit in brings["units"]:
                if unit.endswith(".service"):
                    systemd_enable(unit)
                    systemd_start(unit)
    cuda = re.fullmatch(r"cuda-toolkit-(\d+)-(\d+)", name)
    if cuda:  # /usr/local/cuda-X.Y/bin/nvcc, as NVIDIA's package lays it out
        folder = Path(f"/usr/local/cuda-{cuda.group(1)}.{cuda.group(2)}/bin")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "nvcc").write_text(Path(STUB_FILE).read_text())
        (folder / "nvcc").chmod(0o755)
        link = Path("/usr/local/cuda")
        if not link.exists():
            link.symlink_to(f"cuda-{cuda.group(1)}.{cuda.group(2)}")
    if re.fullmatch(r"cuda-drivers-\d+|nvidia-driver-\d+(-open|-server|-server-open)?", name):
        add_command("nvidia-smi")


def apt_get(args: list[str]) -> int:
    words, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("-o", "-c", "-t"):
            skip = True
        elif not arg.startswith("-"):
            words.append(arg)
    if not words:
        return 0
    command, packages = words[0], words[1:]
    if command == "update":
        save(STATE / "apt-lists.json", {"sources": sources_text()})
        return 0
    if command not in ("install", "reinstall"):
        return 0
    refreshed = load(STATE / "apt-lists.json", {}).get("sources", "")
    chosen = []
    for package in packages:
        if "/" in package or package.endswith(".deb"):  # a local .deb: its name from the file name
            name, version = Path(package).name.split("_")[0].removesuffix(".deb"), "1.0"
            if not Path(package).is_file():
                say(f"E: Unsupported file {package} given on commandline")
                return 100
        else:
            name, _, version = package.partition("=")
            for pattern, source, what in REPOSITORIES:
                if re.fullmatch(pattern, name) and source not in refreshed:
                    state = "is not in the apt sources" if source not in sources_text() else "was added, but "
                    state += "" if source not in sources_text() else "the package lists were not refreshed since"
                    say(f"E: Unable to locate package {name} ({what} {state})")
                    return 100
        chosen.append((name, version or "1.0"))
    for name, version in chosen:
        install_package(name, version)
    return 0


def dpkg(args: list[str]) -> int:
    if "-i" in args or "--install" in args:
        for package in [a for a in args if a.endswith(".deb")]:
            if not Path(package).is_file():
                say(f"dpkg: error: cannot access archive '{package}': No such file or directory")
                return 2
            name = Path(package).name.split("_")[0].removesuffix(".deb")
            install_package(name, "1.1-1" if name == "cuda-keyring" else "1.0")
            if name == "cuda-keyring":  # what the keyring package installs
                repo = cuda_repo()
                Path("/etc/apt/sources.list.d").mkdir(parents=True, exist_ok=True)
                Path(f"/etc/apt/sources.list.d/cuda-{repo}-x86_64.list").write_text(
                    "deb [signed-by=/usr/share/keyrings/cuda-archive-keyring.gpg] "
                    f"https://developer.download.nvidia.com/compute/cuda/repos/{repo}/x86_64/ /\n"
                )
                Path("/usr/share/keyrings").mkdir(parents=True, exist_ok=True)
                Path("/usr/share/keyrings/cuda-archive-keyring.gpg").write_bytes(b"stub keyring\n")
    return 0


# --- systemd ---------------------------------------------------------------------------------------
UNIT_DIRS = (Path("/etc/systemd/system"), Path("/run/systemd/system"))


def unit_name(name: str) -> str:
    return (
        name
        if re.search(r"\.(service|timer|socket|target|mount|path|slice|device|scope)$", name)
        else (name + ".service")
    )


def unit_file(unit: str) -> Path | None:
    for folder in UNIT_DIRS:
        if (folder / unit).is_file():
            return folder / unit
    return None


def unit_exists(unit: str) -> bool:
    return unit_file(unit) is not None or unit in BASE_UNITS or unit in load(STATE / "package-units.json", [])


def unit_settings(unit: str) -> dict[str, str]:
    path = unit_file(unit)
    settings: dict[str, str] = {}
    if path is None:
        return settings
    section = ""
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line and not line.startswith(("#", ";")):
            key, value = line.split("=", 1)
            settings[f"{section}.{key.strip()}"] = value.strip()
    return settings


def systemd_enable(unit: str) -> None:
    enabled = load(STATE / "enabled.json", [])
    save(STATE / "enabled.json", sorted({*enabled, unit}))


def program_problem(program: str, user: str) -> str | None:
    """Why PROGRAM (a path or a name looked up on systemd's PATH) could not be run, or None."""
    if "/" in program:
        if not os.path.isfile(program) or not os.access(program, os.X_OK):
            return f"{program} does not exist"
        return None
    for folder in ("/stubs", "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        if os.access(os.path.join(folder, program), os.X_OK):
            return None
    return f"{program}: command not found on the service's PATH"


BUILTINS = {"cd", "exec", "source", ".", "export", "set", "test", "[", "true", "echo", "printf", "umask", "ulimit"}


def script_problems(script: str, user: str) -> tuple[str | None, str | None]:
    """What the service script bootstrap writes needs at start: (why it would not run, how it would run
    wrong). Its token file missing is the second kind: the script does not stop (no set -e), JupyterLab
    starts with an empty JUPYTER_TOKEN and so generates a random token of its own."""
    try:
        text = Path(script).read_text()
    except OSError:
        return f"{script} does not exist", None
    wrong = None
    for match in re.finditer(r'^JUPYTER_TOKEN="\$\(cat ([^)]+)\)"$', text, re.M):
        (token,) = shlex.split(match.group(1))
        if not readable_by(user, token):
            wrong = (f"started while {token} was missing or unreadable by {user}: it runs with a token of its own, "
                     "not the secret's")  # fmt: skip
    lines = [line for line in text.splitlines() if line.startswith("exec ")]
    if not lines:
        return None, wrong
    words = shlex.split(lines[-1])[1:]
    for word in words:  # JupyterLab stops at once when its root folder is missing
        if word.startswith(("--ServerApp.root_dir=", "--notebook-dir=")):
            folder = word.split("=", 1)[1]
            if not os.path.isdir(folder):
                return f"its root folder {folder} does not exist (JupyterLab exits: No such directory)", wrong
    if words[:2] == ["/bin/bash", "-c"] and len(words) > 2:
        try:
            words = shlex.split(words[2], comments=True)
        except ValueError:
            return None, wrong
        while words and (re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]) or words[0] == "exec"):
            words = words[1:]
        if not words or words[0] in BUILTINS or any(c in words[0] for c in "$`("):
            return None, wrong
    return (program_problem(words[0], user) if words else None), wrong


def service_problems(unit: str) -> tuple[str | None, str | None]:
    """(why UNIT would not be running now, how it would be running wrong): what systemd needs to start
    it, and keeps retrying for while its Restart= policy lets it."""
    settings = unit_settings(unit)
    if not settings:
        return None, None  # a unit of the image or of a package: assumed to work
    user = settings.get("Service.User", "root")
    if user not in passwd():
        return f"User={user} does not exist", None
    directory = settings.get("Service.WorkingDirectory")
    if directory and not os.path.isdir(directory.lstrip("-")):
        return f"WorkingDirectory={directory} does not exist", None
    exec_start = settings.get("Service.ExecStart", "")
    if not exec_start:
        return None, None
    words = shlex.split(exec_start.lstrip("-@+!"))
    problem = program_problem(words[0], user)
    if problem:
        return problem, None
    if words[0].startswith("/usr/local/lib/bootstrap/services/"):
        return script_problems(words[0], user)
    return None, None


FUSE = {"mount-s3": ("mount-s3", "aws", "s3"), "gcsfuse": ("gcsfuse", "gcp", "gs")}


def is_fuse(unit: str) -> bool:
    words = shlex.split(unit_settings(unit).get("Service.ExecStart", "")) or [""]
    return Path(words[0]).name in FUSE


def fuse_mount(unit: str) -> str | None:
    """A FUSE mount service (mount-s3, gcsfuse) mounts its bucket, given the tool and credentials."""
    words = shlex.split(unit_settings(unit).get("Service.ExecStart", ""))
    package, cloud, scheme = FUSE[Path(words[0]).name]
    if not installed(package):
        return f"{words[0]} is not installed"
    if config().get("cloud") != cloud:
        return f"{package}: no {cloud} credentials on this machine"
    bucket, mountpoint = words[-2], words[-1]
    return mount_on(f"{scheme}://{bucket}", mountpoint, "fuse." + package)


def systemd_start(unit: str) -> int:
    if not unit_exists(unit):
        say(f"Failed to start {unit}: Unit {unit} not found.")
        return 5
    units = load(BOOT / "units.json", {})
    if units.get(unit, {}).get("state") == "active":
        return 0  # started already: nothing to do
    if unit_settings(unit).get("Service.Type") == "oneshot":
        units[unit] = {"state": "inactive"}
    elif is_fuse(unit):
        problem = fuse_mount(unit)
        units[unit] = {"state": "failed" if problem else "active", "why": problem or ""}
    else:
        problem, wrong = service_problems(unit)
        units[unit] = {"state": "failed" if problem else "active", "why": problem or wrong or ""}
    save(BOOT / "units.json", units)
    return 0  # Type=simple: systemctl start returns once the process is forked, whatever it does next


def systemd_stop(unit: str) -> None:
    units = load(BOOT / "units.json", {})
    if units.pop(unit, None) is not None:
        save(BOOT / "units.json", units)
        words = shlex.split(unit_settings(unit).get("Service.ExecStart", "")) or [""]
        if is_fuse(unit):  # the mount goes with its service
            mounts = load(BOOT / "mounts.json", {})
            if words[-1] in mounts:
                remember(words[-1], mounts.pop(words[-1]))
                save(BOOT / "mounts.json", mounts)


def systemctl(args: list[str]) -> int:
    flags = [a for a in args if a.startswith("-")]
    words = [a for a in args if not a.startswith("-")]
    if not words:
        return 0
    verb, names = words[0], [unit_name(n) for n in words[1:]]
    if verb in ("daemon-reload", "reset-failed", "reboot", "poweroff", "halt", "list-units", "status"):
        if verb in ("reboot", "poweroff", "halt"):
            BOOT.mkdir(parents=True, exist_ok=True)
            (BOOT / "power").write_text(verb + "\n")
        return 0
    if verb == "show":  # systemctl show -p NAME --value UNIT
        prop = args[args.index("-p") + 1] if "-p" in args else ""
        unit = names[-1] if names else ""
        state = load(BOOT / "units.json", {}).get(unit, {}).get("state", "inactive")
        print({"LoadState": "loaded" if unit_exists(unit) else "not-found", "ActiveState": state}.get(prop, ""))
        return 0
    if verb in ("enable", "start", "restart", "reload-or-restart", "try-restart"):
        for unit in names:
            if not unit_exists(unit):
                say(f"Failed to {verb} unit: Unit file {unit} does not exist.")
                return 1 if verb == "enable" else 5
        for unit in names:
            if verb == "enable":
                systemd_enable(unit)
            if verb in ("restart", "reload-or-restart", "try-restart"):
                systemd_stop(unit)
            if verb != "enable" or "--now" in flags:
                systemd_start(unit)
        return 0
    if verb in ("stop", "disable", "mask"):
        for unit in names:
            systemd_stop(unit)
        if verb == "disable":
            save(STATE / "enabled.json", sorted(set(load(STATE / "enabled.json", [])) - set(names)))
        return 0
    if verb == "is-enabled":
        return 0 if all(n in load(STATE / "enabled.json", []) for n in names) else 1
    if verb == "is-active":
        units = load(BOOT / "units.json", {})
        for unit in names:
            entry = units.get(unit)
            if entry is None or (entry["state"] != "active" and not restarts_into_health(unit, entry)):
                if "--quiet" not in flags and "-q" not in flags:
                    print("inactive" if entry is None else "failed")
                return 3
        if "--quiet" not in flags and "-q" not in flags:
            print("active")
        return 0
    return 0


def restarts_into_health(unit: str, entry: dict) -> bool:
    """A failed service that systemd restarts (Restart= other than no) is running once what it lacked is there."""
    if entry["state"] != "failed" or unit_settings(unit).get("Service.Restart", "no") == "no":
        return False
    return (fuse_mount(unit) if is_fuse(unit) else service_problems(unit)[0]) is None


# --- disks and mounts ------------------------------------------------------------------------------
def key(path: str) -> str:
    return path.strip("/").replace("/", "_")


def filesystems() -> dict:
    return load(STATE / "filesystems.json", {})


def fs_of(device: str) -> dict | None:
    return filesystems().get(os.path.realpath(device))


def udev_links(device: str, entry: dict) -> None:
    """What udev does when a filesystem appears: /dev/disk/by-label and by-uuid links to the device."""
    for kind, value in (("by-label", entry.get("label")), ("by-uuid", entry.get("uuid"))):
        if value:
            link = Path("/dev/disk") / kind / value
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(device)


# Options that take a value (mke2fs(8), mkfs.xfs(8)).
MKFS_VALUE_OPTIONS = {
    "ext4": {"-b", "-C", "-d", "-E", "-e", "-G", "-g", "-I", "-i", "-J", "-L", "-M", "-m", "-N", "-O", "-o", "-r",
             "-T", "-t", "-U", "-z"},
    "xfs": {"-b", "-d", "-i", "-L", "-l", "-m", "-n", "-p", "-r", "-s"},
}  # fmt: skip


def mkfs(fstype: str, args: list[str]) -> int:
    if fstype == "xfs" and not installed("xfsprogs"):
        say("mkfs.xfs: command not found (xfsprogs is not installed)")
        return 127
    label = uuid = None
    force = False
    positional = []
    takes_value = MKFS_VALUE_OPTIONS[fstype]
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in takes_value and index + 1 < len(args):
            value = args[index + 1]
            label = value if arg == "-L" else label
            uuid = value if arg == "-U" else uuid
            index += 1
        elif arg in ("-F", "-f"):
            force = True
        elif arg.startswith("-L") and len(arg) > 2:
            label = arg[2:]
        elif not arg.startswith("-"):
            positional.append(arg)
        index += 1
    if not positional:
        say(f"mkfs.{fstype}: no device given")
        return 1
    device = os.path.realpath(positional[0])
    if not os.path.exists(device):
        say(f"mkfs.{fstype}: The file {positional[0]} does not exist and no size was specified.")
        return 1
    if any(m["device"] == device for m in load(BOOT / "mounts.json", {}).values()):
        say(f"mkfs.{fstype}: {positional[0]} is mounted; will not make a filesystem here!")
        return 1
    existing = fs_of(device)
    if existing and not force:
        say(f"mkfs.{fstype}: {positional[0]} contains a {existing['type']} file system; use -f/-F to overwrite")
        return 1
    uuid = uuid or str(__import__("uuid").UUID(hashlib.md5(f"{device}{label}{fstype}".encode()).hexdigest()))
    entry = {"type": fstype, "label": label or "", "uuid": uuid}
    table = filesystems()
    table[device] = entry
    save(STATE / "filesystems.json", table)
    save(STATE / "disk-files" / f"{key(device)}.json", ["lost+found"] if fstype == "ext4" else [])
    udev_links(device, entry)
    return 0


def blkid(args: list[str]) -> int:
    tag = None
    value_only = "-o" in args and args[args.index("-o") + 1 : args.index("-o") + 2] == ["value"]
    if "-s" in args:
        tag = args[args.index("-s") + 1]
    for flag, field in (("-L", "label"), ("-U", "uuid")):
        if flag in args:
            wanted = args[args.index(flag) + 1]
            for device, entry in filesystems().items():
                if entry.get(field) == wanted:
                    print(device)
                    return 0
            return 2
    skip = {"-o", "-s", "-p", "-c"}
    devices, previous = [], ""
    for arg in args:
        if not arg.startswith("-") and previous not in skip:
            devices.append(arg)
        previous = arg
    found = False
    for device in devices:
        entry = fs_of(device)
        if not entry:
            continue
        values = {"TYPE": entry["type"], "UUID": entry["uuid"], "LABEL": entry["label"]}
        if tag:
            if values.get(tag):
                print(values[tag])
                found = True
        elif value_only:
            print("\n".join(v for v in values.values() if v))
            found = True
        else:
            print(f"{device}: " + " ".join(f'{k}="{v}"' for k, v in values.items() if v))
            found = True
    return 0 if found else 2


def fstab() -> list[list[str]]:
    try:
        lines = Path("/etc/fstab").read_text().splitlines()
    except FileNotFoundError:
        return []
    return [line.split() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def resolve_source(source: str) -> str:
    for prefix, folder in (("UUID=", "by-uuid"), ("LABEL=", "by-label")):
        if source.startswith(prefix):
            return os.path.realpath(f"/dev/disk/{folder}/{source[len(prefix) :]}")
    return os.path.realpath(source) if source.startswith("/") else source


def mount_on(source: str, mountpoint: str, fstype: str) -> str | None:
    """Mount SOURCE on MOUNTPOINT, or say why not. Files under the mount point that the filesystem
    does not hold are hidden from now on: recorded."""
    mounts = load(BOOT / "mounts.json", {})
    if mountpoint in mounts:
        return f"{mountpoint}: already mounted"
    if not os.path.isdir(mountpoint):
        return f"mount point {mountpoint} does not exist"
    device = resolve_source(source)
    if fstype.startswith("nfs"):
        if ".efs." in source and config().get("cloud") != "aws":
            return f"{mountpoint}: mounting {source} failed: Connection timed out (EFS is reachable from its VPC only)"
        if not installed("nfs-common"):
            return (f"{mountpoint}: bad option; for several filesystems (e.g. nfs, cifs) you might need a "
                    "/sbin/mount.<type> helper program")  # fmt: skip
        holds = load(STATE / "disk-files" / f"{key(device)}.json", None)
    elif fstype.startswith("fuse."):
        holds = load(STATE / "disk-files" / f"{key(device)}.json", None)
    else:
        if not os.path.exists(device):
            return f"{mountpoint}: special device {source} does not exist"
        if not fs_of(device):
            return f"{mountpoint}: wrong fs type, bad option, bad superblock on {source}"
        holds = load(STATE / "disk-files" / f"{key(device)}.json", [])
    present = sorted(os.listdir(mountpoint))
    hidden = [name for name in present if holds is not None and name not in holds]
    if holds is None:  # a network filesystem seen for the first time: what is there now is the share's
        save(STATE / "disk-files" / f"{key(device)}.json", present)
    if hidden:
        with (STATE / "hidden.jsonl").open("a") as log:
            log.write(json.dumps({"mountpoint": mountpoint, "source": source, "hidden": hidden}) + "\n")
    mounts[mountpoint] = {"source": source, "device": device, "type": fstype}
    save(BOOT / "mounts.json", mounts)
    return None


def mount(args: list[str]) -> int:
    fstype, positional, index = "", [], 0
    while index < len(args):
        arg = args[index]
        if arg in ("-t", "-o", "-O") and index + 1 < len(args):
            fstype = args[index + 1] if arg == "-t" else fstype
            index += 1
        elif arg in ("--bind", "-B", "--rbind"):
            fstype = "bind"
        elif not arg.startswith("-"):
            positional.append(arg)
        index += 1
    if not positional:
        return 0
    if len(positional) == 1:
        entry = next((e for e in fstab() if len(e) >= 3 and positional[0] in (e[1], e[0])), None)
        if entry is None:
            say(f"mount: {positional[0]}: can't find in /etc/fstab.")
            return 1
        source, mountpoint, fstype = entry[0], entry[1], entry[2]
    else:
        source, mountpoint = positional[0], positional[1]
        fstype = fstype or ("nfs" if ":" in source else "bind" if fstype == "bind" else "auto")
    if fstype == "bind":
        problem = None if os.path.exists(source) else f"special device {source} does not exist"
        problem = problem or mount_on(source, mountpoint, "bind")
    else:
        problem = mount_on(source, mountpoint, fstype)
    if problem:
        say(f"mount: {problem}.")
        return 32
    return 0


def umount(args: list[str]) -> int:
    mounts = load(BOOT / "mounts.json", {})
    for arg in [a for a in args if not a.startswith("-")]:
        if arg not in mounts:
            say(f"umount: {arg}: not mounted.")
            return 32
        remember(arg, mounts.pop(arg))
    save(BOOT / "mounts.json", mounts)
    return 0


def remember(mountpoint: str, entry: dict) -> None:
    """What a filesystem holds is what its mount point showed while it was mounted."""
    if os.path.isdir(mountpoint):
        save(STATE / "disk-files" / f"{key(entry['device'])}.json", sorted(os.listdir(mountpoint)))


def mountpoint_cmd(args: list[str]) -> int:
    paths = [a for a in args if not a.startswith("-")]
    mounted = bool(paths) and paths[-1].rstrip("/") in {m.rstrip("/") for m in load(BOOT / "mounts.json", {})}
    if "-q" not in args:
        print(f"{paths[-1] if paths else ''} is {'' if mounted else 'not '}a mountpoint")
    return 0 if mounted else 32


# --- conda -----------------------------------------------------------------------------------------
# Commands a package puts in its environment's bin/, beyond one named like the package.
ENTRY_POINTS = {
    "python": ["python", "python3", "pip", "pip3"], "jupyterlab": ["jupyter", "jupyter-lab"],
    "notebook": ["jupyter", "jupyter-notebook"], "jupyter": ["jupyter", "jupyter-lab", "jupyter-notebook"],
    "jupyterhub": ["jupyterhub"], "ipython": ["ipython"], "pytorch": ["torchrun"], "torch": ["torchrun"],
    "tensorboard": ["tensorboard"], "mlflow": ["mlflow"], "dask": ["dask", "dask-scheduler", "dask-worker"],
    "distributed": ["dask-scheduler", "dask-worker"], "streamlit": ["streamlit"], "uvicorn": ["uvicorn"],
    "gunicorn": ["gunicorn"], "vllm": ["vllm"], "ray-default": ["ray"], "ray": ["ray"], "pip": ["pip"],
    "huggingface_hub": ["huggingface-cli"], "huggingface-hub": ["huggingface-cli"], "voila": ["voila"],
    "code-server": ["code-server"], "jupyter-server-proxy": [], "panel": ["panel"],
}  # fmt: skip
# Import names that differ from their package's name.
IMPORTS = {
    "torch": "pytorch", "sklearn": "scikit-learn", "cv2": "opencv", "PIL": "pillow", "yaml": "pyyaml",
    "cudf": "cudf", "cuml": "cuml", "cupy": "cupy", "skimage": "scikit-image", "jupyter_server": "jupyterlab",
    "transformers": "transformers", "dateutil": "python-dateutil", "google": "google-cloud-storage",
    "tensorflow": "tensorflow", "lightning": "lightning", "pytorch_lightning": "pytorch-lightning",
    "bs4": "beautifulsoup4", "dask_cuda": "dask-cuda", "huggingface_hub": "huggingface_hub",
}  # fmt: skip


def package_name(spec: str) -> str:
    """'pytorch::pytorch>=2.3 *cuda*' -> 'pytorch'; 'torch==2.3.1' -> 'torch'."""
    spec = spec.strip().split("::")[-1]
    return re.split(r"[\s=<>!~\[;@]", spec, maxsplit=1)[0].lower()


def spec_packages(path: str, kind: str) -> tuple[list[str], str | None]:
    """The packages an environment spec installs, or why micromamba would refuse it."""
    text = Path(path).read_text()
    if kind == "lock":
        if "@EXPLICIT" not in text:
            return [], "an explicit lock file needs an @EXPLICIT line"
        names = []
        for line in text.splitlines():
            match = re.search(r"/([^/]+)-[^-/]+-[^-/]+\.(conda|tar\.bz2)(#[0-9a-f]+)?$", line.strip())
            if match:
                names.append(match.group(1).lower())
        return names, None if names else "the lock file lists no packages"
    try:
        import yaml  # the host's python3-yaml (cloud-init needs it)

        spec = yaml.safe_load(text)
    except ImportError:
        spec = None
    except Exception as exc:  # a YAML error: micromamba says so and stops
        return [], f"cannot parse {path}: {exc}"
    if spec is None:
        return _rough_packages(text), None
    if not isinstance(spec, dict) or not isinstance(spec.get("dependencies"), list):
        return [], f"{path} has no dependencies list"
    if not spec.get("channels"):
        return [], f"{path} names no channels and micromamba has none configured"
    names = []
    for item in spec["dependencies"]:
        if isinstance(item, str):
            names.append(package_name(item))
        elif isinstance(item, dict) and isinstance(item.get("pip"), list):
            if not any(isinstance(i, str) and package_name(i) == "pip" for i in spec["dependencies"]):
                names.append("pip")  # micromamba installs pip for a pip section
            names += [package_name(p) for p in item["pip"] if isinstance(p, str) and not p.startswith("-")]
    return names, None


def _rough_packages(text: str) -> list[str]:
    return [package_name(m.group(1)) for m in re.finditer(r"^\s*-\s+([A-Za-z0-9_.:-][^#\s]*)", text, re.M)]


def micromamba(argv0: str, args: list[str]) -> int:
    if "--version" in args:
        print(config().get("micromamba", "2.0.5"))
        return 0
    words = [a for a in args if not a.startswith("-")]
    if "create" not in words:
        return 0
    name = args[args.index("-n") + 1] if "-n" in args else None
    spec = args[args.index("-f") + 1] if "-f" in args else None
    if not name or not spec:
        say("micromamba: create needs -n NAME and -f FILE here")
        return 1
    root = os.environ.get("MAMBA_ROOT_PREFIX") or str(Path(argv0).parent.parent)
    packages, problem = spec_packages(spec, "yaml" if words[0] == "env" else "lock")
    if problem:
        say(f"critical libmamba {problem}")
        return 1
    env = Path(root) / "envs" / name
    (env / "bin").mkdir(parents=True, exist_ok=True)
    (env / "conda-meta").mkdir(parents=True, exist_ok=True)
    (env / "conda-meta" / "packages.txt").write_text("".join(p + "\n" for p in sorted(set(packages))))
    commands = {"python"} if "python" in packages or packages else set()
    for package in packages:
        commands |= {package, *ENTRY_POINTS.get(package, [])}
        if package == "python":
            commands |= set(ENTRY_POINTS["python"])
    for command in sorted(commands):
        if re.fullmatch(r"[A-Za-z0-9_.+-]+", command):
            target = env / "bin" / command
            target.write_text(Path(STUB_FILE).read_text())
            target.chmod(0o755)
    return 0


def env_packages(argv0: str) -> set[str] | None:
    meta = Path(argv0).parent.parent / "conda-meta" / "packages.txt"
    return set(meta.read_text().split()) if meta.is_file() else None


def python(argv0: str, args: list[str]) -> int:
    packages = env_packages(argv0)
    if packages is None:  # not one of our environments' pythons
        return 0
    if args[:1] == ["-m"] and len(args) > 1:
        module = args[1].split(".")[0]
        package = IMPORTS.get(module, module.replace("_", "-"))
        if package not in packages and module not in packages and module not in sys.stdlib_module_names:
            say(f"{argv0}: No module named {module}")
            return 1
        if module == "ipykernel" and "install" in args:
            prefix = args[args.index("--prefix") + 1] if "--prefix" in args else sys.prefix
            kernel = args[args.index("--name") + 1] if "--name" in args else "python3"
            display = args[args.index("--display-name") + 1] if "--display-name" in args else kernel
            folder = Path(prefix) / "share/jupyter/kernels" / kernel
            folder.mkdir(parents=True, exist_ok=True)
            spec = {"argv": [argv0, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                    "display_name": display, "language": "python"}  # fmt: skip
            (folder / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n")
        return 0
    if args[:1] == ["-c"] and len(args) > 1:
        for match in re.finditer(r"(?:^|[;\n]\s*)(?:import\s+([\w., ]+)|from\s+(\w+)[\w.]*\s+import)", args[1]):
            names = [n.strip().split(".")[0].split(" ")[0] for n in (match.group(1) or match.group(2)).split(",")]
            for module in names:
                package = IMPORTS.get(module, module.replace("_", "-"))
                if package not in packages and module not in packages and module not in sys.stdlib_module_names:
                    say("Traceback (most recent call last):")
                    say(f"ModuleNotFoundError: No module named '{module}'")
                    return 1
    return 0


# --- NVIDIA ----------------------------------------------------------------------------------------
def driver_branch() -> str | None:
    for name in installed_matching(r"cuda-drivers-\d+|nvidia-driver-\d+.*"):
        return re.search(r"\d+", name).group(0)  # type: ignore[union-attr]
    return None


def driver_loaded() -> bool:
    return (BOOT / "nvidia-loaded").exists()


def nvidia_smi(args: list[str]) -> int:
    branch = driver_branch()
    if branch is None:
        say("nvidia-smi: command not found")
        return 127
    if not config().get("gpu") or not driver_loaded():
        print("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the "
              "latest NVIDIA driver is installed and running.")  # fmt: skip
        return 9
    version = f"{branch}.95.05"
    query = next((a.split("=", 1)[1] for a in args if a.startswith("--query-gpu=")), None)
    if query:
        values = {"index": "0", "name": "NVIDIA A100-SXM4-40GB", "driver_version": version,
                  "memory.total": "40960 MiB", "persistence_mode": "Enabled", "utilization.gpu": "0 %"}  # fmt: skip
        print(", ".join(values.get(q.strip(), "N/A") for q in query.split(",")))
        return 0
    if "-pm" in args:
        print("Enabled persistence mode for GPU 00000000:00:1E.0.")
        return 0
    print(f"NVIDIA-SMI {version}    Driver Version: {version}    CUDA Version: 13.0")
    return 0


def lspci(args: list[str]) -> int:
    if config().get("gpu") and ("10de:" in args or not any(a.startswith("-d") for a in args)):
        print("00:1e.0 0302: 10de:20b0 (rev a1)" if "-n" in args else "00:1e.0 3D controller: NVIDIA Corporation "
              "GA100 [A100 SXM4 40GB] (rev a1)")  # fmt: skip
    return 0


def module_loadable() -> bool:
    """The driver's module was built by DKMS, which needs the running kernel's headers."""
    kernel = os.uname().release
    return driver_branch() is not None and installed("dkms") and installed(f"linux-headers-{kernel}")


def modprobe(args: list[str]) -> int:
    if "nvidia" not in args:
        return 0
    if driver_loaded():
        return 0
    if not module_loadable():
        say("modprobe: FATAL: Module nvidia not found in directory /lib/modules/" + os.uname().release)
        return 1
    # nouveau holds the GPU until a reboot with the driver's blacklist in place
    say("modprobe: ERROR: could not insert 'nvidia': No such device")
    return 1


def nvcc(argv0: str, args: list[str]) -> int:
    match = re.search(r"/cuda-(\d+\.\d+)/", argv0)
    if not match:
        say("nvcc: command not found")
        return 127
    print(f"nvcc: NVIDIA (R) Cuda compiler driver\nCuda compilation tools, release {match.group(1)}, "
          f"V{match.group(1)}.0")  # fmt: skip
    return 0


# --- clouds, git, docker ---------------------------------------------------------------------------
def aws(args: list[str]) -> int:
    if config().get("cloud") != "aws":
        say('Unable to locate credentials. You can configure credentials by running "aws configure".')
        return 253
    if "--region" in args and not args[args.index("--region") + 1]:
        say("Provided region_name '' doesn't match a supported format.")
        return 255
    secrets = config().get("secrets", {})
    if args[:2] == ["ssm", "get-parameter"]:
        ref = args[args.index("--name") + 1]
        if f"aws-ssm:{ref}" not in secrets:
            say(f"An error occurred (ParameterNotFound) when calling the GetParameter operation: {ref}")
            return 254
        print(secrets[f"aws-ssm:{ref}"])
        return 0
    if args[:2] == ["secretsmanager", "get-secret-value"]:
        ref = args[args.index("--secret-id") + 1]
        if f"aws-secretsmanager:{ref}" not in secrets:
            say("An error occurred (ResourceNotFoundException) when calling the GetSecretValue operation")
            return 254
        print(secrets[f"aws-secretsmanager:{ref}"])
        return 0
    if args[:2] == ["s3", "cp"]:
        return copy_object([a for a in args[2:] if not a.startswith("-")], "s3://")
    if args[:2] == ["ecr", "get-login-password"]:
        print("ecr-login-password")
        return 0
    if args[:2] == ["sts", "get-caller-identity"]:
        print(json.dumps({"Account": "123456789012", "Arn": "arn:aws:sts::123456789012:assumed-role/box/i-1"}))
        return 0
    return 0


def copy_object(paths: list[str], scheme: str) -> int:
    if len(paths) < 2:
        return 1
    source, dest = paths[0], paths[-1]
    if source.startswith(scheme):
        objects = config().get("objects", {})
        if source not in objects:
            say(f"fatal error: An error occurred (404) when calling the HeadObject operation: {source}")
            return 1
        Path(dest).write_text(objects[source])
    return 0


def curl(args: list[str]) -> int:
    """Downloads succeed (an object the machine's config knows, else stub content); the metadata
    service answers on the machine's own cloud only; Secret Manager wants the bearer token."""
    url = next((a for a in args if re.match(r"https?://", a)), "")
    flag = "--output" if "--output" in args else "-o" if "-o" in args else ""
    output = args[args.index(flag) + 1] if flag else ""
    headers = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "-H"]
    if "@-" in headers:
        headers += sys.stdin.read().splitlines()
    settings = config()
    if url.startswith(("http://169.254.169.254/", "http://metadata.google.internal/")):
        path = url.split("/", 3)[3]
        answers = settings.get("metadata", {})
        if not answers:
            return 7  # no metadata service answers here
        if path.startswith("computeMetadata/") and "Metadata-Flavor: Google" not in headers:
            return 22
        if (
            path.startswith("latest/")
            and path != "latest/api/token"
            and not any(h.startswith("X-aws-ec2-metadata-token: ") for h in headers)
        ):
            return 22  # IMDSv2: 401 without the session token
        if path not in answers:
            return 22
        text = answers[path]
    elif url.startswith("https://secretmanager.googleapis.com/"):
        if not any(h.startswith("Authorization: Bearer ") for h in headers):
            return 22
        name = url.split("/v1/", 1)[1].removesuffix(":access")
        value = settings.get("secrets", {}).get(f"gcp-secretmanager:{name}")
        if value is None or settings.get("cloud") != "gcp":
            return 22
        data = __import__("base64").b64encode(value.encode()).decode()
        text = json.dumps({"name": name, "payload": {"data": data}})
    elif url in settings.get("objects", {}):
        text = settings["objects"][url]
    elif output:
        text = "stub download\n"
    else:
        return 7
    if output:
        Path(output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def gcloud(args: list[str]) -> int:
    if config().get("cloud") != "gcp":
        say("gcloud: command not found")
        return 127
    if args[:2] == ["storage", "cp"]:
        return copy_object([a for a in args[2:] if not a.startswith("-")], "gs://")
    return 0


def git(args: list[str]) -> int:
    if not installed("git"):
        say("git: command not found")
        return 127
    if "clone" not in args:
        return 0
    rest = args[args.index("clone") + 1 :]
    positional, skip = [], False
    for arg in rest:
        if skip:
            skip = False
        elif arg in ("--branch", "-b", "--depth", "--origin", "-c"):
            skip = True
        elif not arg.startswith("-"):
            positional.append(arg)
    if not positional:
        return 1
    url = positional[0]
    dest = positional[1] if len(positional) > 1 else Path(url.rstrip("/")).name.removesuffix(".git")
    if url.startswith("git@") or url.startswith("ssh://"):
        keys = re.findall(r"-i\s+(\S+)", os.environ.get("GIT_SSH_COMMAND", ""))
        home = Path(os.environ.get("HOME", "/root"))
        keys += [str(home / ".ssh" / n) for n in ("id_ed25519", "id_rsa", "id_ecdsa")]
        if not any(Path(k).is_file() and Path(k).stat().st_size > 0 for k in keys):
            say(f"{url.split(':')[0]}: Permission denied (publickey).\nfatal: Could not read from remote repository.")
            return 128
    elif re.match(r"https://[^/@]*:@", url):
        say("remote: Invalid username or password.\nfatal: Authentication failed")
        return 128
    if Path(dest).exists() and any(Path(dest).iterdir()):
        say(f"fatal: destination path '{dest}' already exists and is not an empty directory.")
        return 128
    (Path(dest) / ".git").mkdir(parents=True, exist_ok=True)
    (Path(dest) / "README.md").write_text(f"cloned from {url}\n")
    uid = int(os.environ.get("STUB_CALLER_UID", "0"))
    if uid:  # the clone is its caller's
        gid = next((g for u, g, _ in passwd().values() if u == uid), uid)
        for folder, dirs, files in os.walk(dest):
            for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
                os.chown(name, uid, gid)
    return 0


def docker(args: list[str]) -> int:
    units = load(BOOT / "units.json", {})
    if units.get("docker.service", {}).get("state") != "active":
        say("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?")
        return 1
    logins = load(STATE / "docker-logins.json", [])
    if args[:1] == ["login"]:
        registry = next((a for a in args[1:] if not a.startswith("-") and "." in a), "docker.io")
        if "--password-stdin" in args and not sys.stdin.read().strip():
            say("Error: Cannot perform an interactive login from a non TTY device")
            return 1
        save(STATE / "docker-logins.json", sorted({*logins, registry}))
        return 0
    if args[:1] in (["pull"], ["run"]):
        image = next((a for a in args[1:] if not a.startswith("-") and "/" in a), "")
        registry = image.split("/")[0] if "." in image.split("/")[0] else "docker.io"
        private = re.search(r"dkr\.ecr\.|pkg\.dev|ghcr\.io|registry\.|\.internal", registry)
        if private and registry not in logins:
            say(f"Error response from daemon: pull access denied for {image}: no basic auth credentials")
            return 1
    return 0


def hostnamectl(args: list[str]) -> int:
    if args[:1] == ["set-hostname"] and len(args) > 1:
        Path("/etc/hostname").write_text(args[1] + "\n")
        subprocess.run(["/usr/bin/hostname", args[1]], check=False)
    return 0


# --- power-on --------------------------------------------------------------------------------------
def boot() -> int:
    """What happens at power-on before the cloud's agent runs our scripts: the host name from
    /etc/hostname, the NVIDIA module (blacklisted nouveau now out of the way), fstab's mounts (nofail:
    a failure is only logged), systemd starting the enabled units."""
    if (BOOT / "booted").exists():
        return 0
    BOOT.mkdir(parents=True, exist_ok=True)
    (BOOT / "booted").write_text("")
    Path("/run/systemd/system").mkdir(parents=True, exist_ok=True)  # systemd is running
    previous = load(STATE / "last-mounts.json", {})
    for mountpoint, entry in previous.items():  # shutdown of the last boot: what each filesystem held
        remember(mountpoint, entry)
    hostname = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").exists() else ""
    if hostname:
        subprocess.run(["/usr/bin/hostname", hostname], check=False)
    if config().get("gpu") and module_loadable():
        (BOOT / "nvidia-loaded").write_text("")
    for entry in fstab():
        if len(entry) >= 3 and entry[1].startswith("/") and entry[2] not in ("swap", "proc", "tmpfs"):
            problem = mount_on(entry[0], entry[1], entry[2])
            if problem:
                say(f"boot: fstab {entry[1]}: {problem}")
    for unit in load(STATE / "enabled.json", []):
        if unit != "bootstrap.service" and unit.endswith(".service") and unit_exists(unit):
            systemd_start(unit)
    return 0


TOOLS = {
    "apt-get": apt_get, "dpkg": dpkg, "systemctl": systemctl, "blkid": blkid, "mount": mount, "umount": umount,
    "mountpoint": mountpoint_cmd, "nvidia-smi": nvidia_smi, "lspci": lspci, "modprobe": modprobe, "aws": aws,
    "gcloud": gcloud, "curl": curl, "git": git, "docker": docker, "hostnamectl": hostnamectl,
}  # fmt: skip


def serve(token: str) -> int:
    """Power-on, then answer the stubs' calls until the machine stops (the run's pid namespace ends):
    one python for the whole run, not one per call. A call is a folder of the stub's: its arguments,
    environment and (for the tools that read it) standard input; the answer is its output files and
    the exit code, written to the folder's reply FIFO."""
    boot()
    rpc = BOOT / "rpc"
    if rpc.exists() or rpc.is_symlink():
        rpc.unlink()
    os.mkfifo(rpc)
    os.chmod(rpc, 0o622)  # as_user's commands call tools too
    requests = os.fdopen(os.open(rpc, os.O_RDWR), "r")  # a writer of our own: never an end of file
    (BOOT / f"ready.{token}").write_text("")
    for line in requests:
        folder = Path(line.strip())
        try:
            rc = handle(folder)
        except Exception:  # the emulation's own bug: said, and the call fails
            (folder / "err").write_text(__import__("traceback").format_exc())
            rc = 70
        with open(folder / "reply", "w") as reply:
            reply.write(f"{rc}\n")
    return 0


def handle(folder: Path) -> int:
    import contextlib
    import io

    raw = [part.decode(errors="surrogateescape") for part in (folder / "args").read_bytes().split(b"\0")[:-1]]
    uid, cwd, argv0, args = int(raw[0]), raw[1], raw[2], raw[3:]
    env = dict(item.split("=", 1) for item in (folder / "env").read_bytes().decode(errors="surrogateescape")
               .split("\0") if "=" in item)  # fmt: skip
    stdin = (folder / "stdin").read_text(errors="replace") if (folder / "stdin").exists() else ""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    os.environ["STUB_CALLER_UID"] = str(uid)
    try:
        with contextlib.suppress(OSError):
            os.chdir(cwd)
        with open(folder / "out", "w") as out, open(folder / "err", "w") as err:
            sys.stdin = io.StringIO(stdin)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    return dispatch(argv0, args)
                except SystemExit as exc:
                    return int(exc.code or 0)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        os.chdir("/")


def main(argv: list[str]) -> int:
    if argv[1:2] == ["--boot"]:
        return boot()
    if argv[1:2] == ["--serve"]:
        return serve(argv[2])
    return dispatch(argv[1], argv[2:])


def dispatch(argv0: str, args: list[str]) -> int:
    name = Path(argv0).name
    if name.startswith("mkfs."):
        return mkfs(name.split(".", 1)[1], args)
    if name == "micromamba":
        return micromamba(argv0, args)
    if name in ("python", "python3"):
        return python(argv0, args)
    if name == "nvcc":
        return nvcc(argv0, args)
    return TOOLS[name](args)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
