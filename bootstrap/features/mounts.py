"""mounts: persistent block devices, NFS/EFS, S3 (mountpoint-s3) and GCS (gcsfuse), on every boot.

A block device is formatted only when it holds no filesystem (blkid), never otherwise: the data
disk that follows a data scientist from machine to machine keeps its data. fstab entries carry
``nofail`` and timeouts, and FUSE mounts run as services: no mount can hang the boot.

Whoever controls such a filesystem elsewhere (root on another machine the disk was attached to, the
NFS server, the bucket's writers) could put a setuid-root program or a device node on it: every
mount is ``nosuid,nodev`` unless the profile trusts it (``nosuid_nodev: false``; FUSE mounts always
are). A FUSE mount gives its files the mount's owner and mode, and lets users other than root in
only with ``allow_other``.
"""

from __future__ import annotations

import re
from typing import Any

from .. import layout
from ..distro import Distro, Package, Repository
from ..errors import Problem
from ..plan import Phase, Scope, Step
from ..templating import render
from . import Needs, describe, problem
from ._mount_rules import nested_problems, normal, shared_problems, write_problems
from .files import OWNER

KEY = "mounts"
AFTER = frozenset({"users"})  # mount points have owners
NAMED_STEPS = ("mounts",)  # "before: [mounts]" is before the mounting (a disk labelled first), not before the tools
_WORD = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
FIELDS = {  # which keys each type takes (path, type, owner, mode, options are common)
    "block": {"device", "filesystem", "format", "wait_seconds"},
    "nfs": {"server", "export"},
    "efs": {"file_system_id", "region"},
    "s3": {"bucket", "prefix", "read_only", "allow_other"},
    "gcs": {"bucket", "read_only", "allow_other"},
}
COMMON = {"path", "type", "owner", "mode", "options", "nosuid_nodev"}
UNSAFE_OPTIONS = {"suid", "dev"}  # what nosuid,nodev exist to keep off: only nosuid_nodev: false brings them back
REQUIRED = {"block": {"device"}, "nfs": {"server", "export"}, "efs": {"file_system_id"}, "s3": {"bucket"},
            "gcs": {"bucket"}}  # fmt: skip
SCHEMA: dict[str, Any] = {
    "type": "array",
    "x-merge-key": "path",
    "description": "Filesystems mounted on every boot: a persistent disk (formatted only when empty), NFS/EFS, "
    "or an S3/GCS bucket through FUSE. Mount points get the given owner and mode. Every mount is nosuid,nodev "
    "unless it says otherwise: whoever controls the filesystem elsewhere must not get setuid programs here.",
    "examples": [[{"path": "/data", "type": "block", "device": {"ebs_volume_id": "vol-0123456789abcdef0"},
                   "owner": "alice:alice"}]],
    "items": {
        "type": "object",
        "required": ["path", "type"],
        "additionalProperties": False,
        "properties": {
            "path": {"type": "string", "pattern": r"^/[A-Za-z0-9_./-]*[A-Za-z0-9_.-]$",
                     "x-help": "an absolute mount point without spaces", "examples": ["/data"]},
            "type": {"enum": list(FIELDS), "description": "What to mount."},
            "owner": {"type": "string", "pattern": OWNER, "x-help": "user or user:group"},
            "mode": {"type": "string", "pattern": r"^0?[0-7]{3,4}$", "x-help": "an octal mode in quotes"},
            "options": {"type": "array", "items": {"type": "string", "pattern": r"^[A-Za-z0-9_.=:/-]+$",
                        "x-help": "a mount option such as noatime"}, "description": "Extra mount options."},
            "device": {
                "type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
                "description": "block: which device, exactly one way.",
                "properties": {
                    "ebs_volume_id": {"type": "string", "pattern": r"^vol-[0-9a-f]{8,17}$", "x-help": "vol-0123..."},
                    "gce_disk": {"type": "string", "pattern": r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$",
                                 "x-help": "a GCE disk's device name"},
                    "label": {"type": "string", "pattern": _WORD, "x-help": "a filesystem label"},
                    "uuid": {"type": "string", "pattern": r"^[0-9A-Fa-f-]{8,36}$", "x-help": "a filesystem UUID"},
                    "path": {"type": "string", "pattern": r"^/dev/[A-Za-z0-9/_.-]+$", "x-help": "a /dev path"},
                },
            },
            "filesystem": {"enum": ["ext4", "xfs"]},
            "format": {"type": "boolean",
                       "description": "block: create a filesystem when the device has none (never otherwise)."},
            "wait_seconds": {"type": "integer", "minimum": 1, "maximum": 3600,
                             "description": "block: how long to wait for the device to attach."},
            "server": {"type": "string", "pattern": _WORD, "x-help": "a host name or address"},
            "export": {"type": "string", "pattern": r"^/[A-Za-z0-9_./-]*$", "x-help": "an export path"},
            "file_system_id": {"type": "string", "pattern": r"^fs-[0-9a-f]{8,17}$", "x-help": "fs-0123..."},
            "region": {"type": "string", "pattern": r"^[a-z]{2}(-[a-z]+)+-[0-9]$", "x-help": "an AWS region"},
            "bucket": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$",
                       "x-help": "a bucket name"},
            "prefix": {"type": "string", "pattern": r"^[A-Za-z0-9_./-]+/$", "x-help": "a key prefix ending in /"},
            "read_only": {"type": "boolean"},
            "nosuid_nodev": {"type": "boolean", "default": True},
            "allow_other": {"type": "boolean"},
        },
        "allOf": [  # defaults of the fields one type takes, filled in for that type only
            {"if": {"properties": {"type": {"const": "block"}}},
             "then": {"properties": {"filesystem": {"default": "ext4"}, "format": {"default": True},
                                     "wait_seconds": {"default": 300}}}},
            {"if": {"properties": {"type": {"enum": ["s3", "gcs"]}}},
             "then": {"properties": {"read_only": {"default": False}, "allow_other": {"default": False}}}},
        ],
    },
}  # fmt: skip
describe(
    SCHEMA["items"]["properties"],
    {
        "path": ("Mount point; created when missing.", "/data"),
        "type": ("What to mount: block, nfs, efs, s3 or gcs.", "block"),
        "owner": (
            "Owner of the mount point (user or user:group); s3/gcs: of every file, with allow_other.",
            "alice:alice",
        ),
        "mode": (
            "Mode of the mount point, octal, in quotes; s3/gcs: of every folder and, without execute, of every file.",
            "0770",
        ),
        "options": ("Extra mount options, added to the defaults.", ["noatime"]),
        "device": ("block: the device, named exactly one way.", {"ebs_volume_id": "vol-0123456789abcdef0"}),
        "filesystem": ("block: the filesystem to create on an empty device.", "ext4"),
        "format": ("block: create a filesystem when the device has none (never otherwise).", True),
        "wait_seconds": ("block: how long to wait for the device to attach.", 300),
        "server": ("nfs: the server's host name or address.", "nfs.internal.example.com"),
        "export": ("nfs: the exported path.", "/srv/team"),
        "file_system_id": ("efs: the file system id (mounted through its regional DNS name).", "fs-0123456789abcdef0"),
        "region": ("efs: its region (default: the instance's).", "eu-west-1"),
        "bucket": ("s3/gcs: the bucket, mounted with mountpoint-s3 or gcsfuse.", "team-datasets"),
        "prefix": ("s3: only this key prefix.", "raw/"),
        "read_only": ("s3/gcs: mount read-only.", True),
        "nosuid_nodev": (
            "Mount nosuid,nodev (the default): setuid bits and device files on the filesystem are not "
            "honoured. false only for a filesystem no one but root can write, here or wherever else it "
            "is mounted (block, nfs, efs; FUSE mounts stay nosuid,nodev).",
            False,
        ),
        "allow_other": (
            "s3/gcs: let users other than root reach the mount (FUSE's allow_other), within its owner "
            "and mode; without it only root can.",
            True,
        ),
    },
)
describe(
    SCHEMA["items"]["properties"]["device"]["properties"],
    {
        "ebs_volume_id": ("An EBS volume, found by its NVMe id under /dev/disk/by-id.", "vol-0123456789abcdef0"),
        "gce_disk": ("A GCE disk by device name (/dev/disk/by-id/google-NAME).", "data"),
        "label": ("A filesystem label: of a disk formatted before (a blank disk has none, so format cannot "
                  "find it).", "team-data"),
        "uuid": ("A filesystem UUID: of a disk formatted before.", "0f6d8e62-5a3e-4c1b-9a53-4c2f3b1d2e10"),
        "path": ("A /dev path (stable ones, under /dev/disk/by-id, are best).", "/dev/disk/by-id/virtio-data"),
    },
)


def check(config: list[Any], context: Any) -> list[Problem]:
    problems = []
    seen: set[str] = set()
    for item in config:
        kind = item["type"]
        for missing in sorted(REQUIRED[kind] - set(item)):
            problems.append(problem(item, "type", f"a {kind} mount needs {missing!r}"))
        for extra in sorted(set(item) - FIELDS[kind] - COMMON):
            problems.append(problem(item, extra, f"{extra!r} does not apply to a {kind} mount"))
        for option in item.get("options", []):
            if option.split("=")[0] in UNSAFE_OPTIONS:
                problems.append(problem(item, "options", f"option {option!r} undoes nosuid,nodev: set nosuid_nodev: "
                                        "false on this mount instead"))  # fmt: skip
        if kind in FUSE:
            problems += _fuse_problems(item)
        if normal(item["path"]) in ("/", "/boot", "/usr", "/etc", "/var", "/home", "/proc", "/sys", "/dev", "/run"):
            problems.append(problem(item, "path", f"refusing to mount over {item['path']}"))
        elif not shared_problems(item) and (hidden := _hides_the_system(normal(item["path"]))):
            problems.append(problem(item, "path", f"mount point {item['path']} would hide {hidden}: the filesystem "
                                    "mounted there covers what is on the root disk, and on later boots fstab mounts "
                                    "it before bootstrap runs", "mount it under /data or /mnt and link to it"))
        else:
            problems += _home_problems(item, getattr(context, "profile", None) or {}) + shared_problems(item)
        if normal(item["path"]) in seen:
            problems.append(problem(item, "path", f"two mounts at {item['path']}"))
        seen.add(normal(item["path"]))
    problems += nested_problems(config)
    return problems + write_problems(config, getattr(context, "profile", None) or {})


# What the machine and bootstrap itself run from or keep their state in: a mount at or above one of
# these hides it (a mount at /usr/local hides the runner; at /var/lib, its markers and dpkg's database).
SYSTEM_TREES = ("/usr", "/etc", "/boot", "/proc", "/sys", "/dev", "/run", "/bin", "/sbin", "/lib", "/lib64")
KEPT = (layout.LIB_DIR, layout.STATE_DIR, "/var/lib/cloud", "/var/lib/dpkg", "/var/lib/apt", "/var/lib/systemd",
        "/var/log", "/var/cache/apt", "/var/spool")  # fmt: skip


def _hides_the_system(path: str) -> str:
    """What a mount at ``path`` covers of the system's own trees, or ""."""
    for tree in SYSTEM_TREES:
        if path.startswith(tree + "/"):
            return f"part of {tree}, the system's own tree"
    covered = [kept for kept in KEPT if kept == path or kept.startswith(path.rstrip("/") + "/")]
    return ", ".join(covered)


FUSE = ("s3", "gcs")
OUTSIDE = "mount it outside the home folders (e.g. path: /data{}) and link to it from there"
# Accounts cloud-init makes first (its default_user, in the images' cloud.cfg), before the runner's
# steps: they own /home/NAME by the mounts step.
DEFAULT_USERS = {"admin": "Debian's images on AWS", "debian": "Debian's generic cloud images",
                 "ubuntu": "Ubuntu's images", "ec2-user": "Amazon Linux", "cloud-user": "Red Hat's images"}  # fmt: skip


def _home_problems(item: dict[str, Any], profile: dict[str, Any]) -> list[Problem]:
    """A mount point in a home folder fails on the machine, or hides what the home holds.

    The users step runs before the mounts step (mounts come ``AFTER`` users) and ``useradd
    --create-home`` makes /home/NAME its user's. The runner then refuses to mount, chown or chmod
    through a folder a user other than root can change (``mount_point``: NAME could swap
    ``data/`` for a link to /etc and put the disk over it), so a mount below a home stops the boot
    at the mounts step: "refusing to mount on /home/NAME/data: /home/NAME can be changed by a user
    other than root". The same holds for the cloud's default user (``DEFAULT_USERS``), which
    cloud-init makes before the runner's steps; on an image without it, one made later finds its
    home made by root, and useradd copies no skeleton into a home that exists. A mount at the home
    itself passes that test but covers what was written there (~/.ssh/authorized_keys, the
    skeleton). Any other name under /home is no account the profile or the image makes: the runner
    makes the folder root's and mounts there (/home/shared for a team's NFS share).
    /root is root's, mode 0700: a mount below it works for root alone.
    """
    path = normal(item["path"])
    owner = item.get("owner", "").split(":")[0]
    if path == "/root":
        handed = f", and owner {owner} would own root's home: what {owner} puts there, root runs" \
            if owner and owner != "root" else ""  # fmt: skip
        return [problem(item, "path", "mount point /root is root's home: the filesystem mounted there hides root's "
                        f"files (~/.ssh/authorized_keys, ~/.bashrc){handed}", OUTSIDE.format(""))]  # fmt: skip
    if path.startswith("/root/"):
        if owner and owner != "root":
            return [problem(item, "owner", f"mount point {path} is inside /root, root's home, which only root may "
                            f"pass through (mode 0700): its owner {owner} can never reach it",
                            OUTSIDE.format(f"/{owner}"))]  # fmt: skip
        return []
    if not path.startswith("/home/"):
        return []
    home = "/".join(path.split("/")[:3])
    name = home.split("/")[2]
    declared = any(user["name"] == name for user in profile.get("users", []))
    hint = OUTSIDE.format(f"/{name}" + (f" with owner: {name}" if declared else ""))
    if declared and path == home:
        unwritable = "" if owner == name else f", and nothing makes the filesystem's root {name}'s (owner: {name})"
        return [problem(item, "path", f"mount point {path} is {name}'s home: the filesystem mounted there hides "
                        f"what the users step put in it (~/.ssh/authorized_keys, so {name} cannot log in with a key, "
                        f"and the skeleton files){unwritable}", hint)]  # fmt: skip
    if declared:
        return [problem(item, "path", f"mount point {path} is inside {name}'s home: the users step makes {home} "
                        f"{name}'s before the mounts step, and the runner will not mount through a folder another "
                        f"user can change ({name} could swap a folder on the way for a link to /etc): the boot stops "
                        f"at the mounts step", hint)]  # fmt: skip
    if name not in DEFAULT_USERS:
        return []
    made = f"{name} is the default user cloud-init makes on {DEFAULT_USERS[name]} before the runner's steps"
    if path == home:
        return [problem(item, "path", f"mount point {path} is {name}'s home: {made}, and the filesystem mounted "
                        f"there hides what cloud-init put in it (~/.ssh/authorized_keys, so {name} cannot log in "
                        "with the instance's key pair)", hint)]  # fmt: skip
    return [problem(item, "path", f"mount point {path} is in {home}, a home folder: {made}, and owns {home}: "
                    "the runner refuses to mount through a folder another user can change, stopping the boot; on an "
                    f"image without {name}, one made later finds {home} root's, without the skeleton (useradd "
                    "copies none into a home that exists)", hint)]  # fmt: skip


def _fuse_problems(item: dict[str, Any]) -> list[Problem]:
    problems = []
    if item.get("nosuid_nodev") is False:
        problems.append(problem(item, "nosuid_nodev", "a FUSE mount stays nosuid,nodev: a bucket's writers are "
                                "not this machine's root"))  # fmt: skip
    if "mode" in item and int(item["mode"], 8) > 0o777:  # the tools take permission bits only
        problems.append(problem(item, "mode", f"a FUSE mount takes permission bits only (no setuid, setgid or "
                                f"sticky): {item['mode']!r}"))  # fmt: skip
    owner = item.get("owner", "")
    if owner and set(owner.split(":")) != {"root"} and not item.get("allow_other"):
        problems.append(problem(item, "owner", f"owner {owner} cannot reach this FUSE mount: only root can, unless "
                                "allow_other: true (then its owner and mode decide who may)"))  # fmt: skip
    return problems


def _device(device: dict[str, str]) -> str:
    ((kind, value),) = device.items()
    return {
        "ebs_volume_id": f"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{value.replace('-', '')}",
        "gce_disk": f"/dev/disk/by-id/google-{value}",
        "label": f"/dev/disk/by-label/{value}",
        "uuid": f"/dev/disk/by-uuid/{value}",
        "path": value,
    }[kind]


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "root"


def _prepare(item: dict[str, Any]) -> dict[str, Any]:
    kind, options = item["type"], list(item.get("options", []))
    if item["nosuid_nodev"]:
        options = ["nosuid", "nodev", *options]
    entry: dict[str, Any] = {
        "path": item["path"],
        "type": kind,
        "owner": item.get("owner", ""),
        "mode": item.get("mode", ""),
        "unit": f"bootstrap-mount-{_slug(item['path'])}",
    }
    if kind == "block":
        entry |= {
            "device": _device(item["device"]),
            "fs": item["filesystem"],
            "format": "yes" if item["format"] else "no",
            "wait": item["wait_seconds"],
            "options": ",".join(["defaults", "nofail", "x-systemd.device-timeout=30s", *options]),
        }
    elif kind in ("nfs", "efs"):
        base = ["nfsvers=4.1", "_netdev", "nofail", "x-systemd.mount-timeout=60s"]
        if kind == "efs":  # AWS's recommended NFS options for EFS
            base += ["rsize=1048576", "wsize=1048576", "hard", "timeo=600", "retrans=2", "noresvport"]
        entry["options"] = ",".join([*base, *options])
        if kind == "nfs":
            entry["source"] = f"{item['server']}:{item['export']}"
        else:  # the server's name holds the region, known only on the machine unless the profile says
            entry |= {"file_system_id": item["file_system_id"], "region": item.get("region", "")}
    else:  # the owner's ids are the machine's: the mount step adds them, then the bucket and the mount point
        entry |= {"command": " ".join(_fuse_command(item)), "bucket": item["bucket"]}
    return entry  # fmt: skip


def _fuse_command(item: dict[str, Any]) -> list[str]:
    """The FUSE mount's service command line up to the owner's ids (every part matched a pattern
    without spaces). The same mode bits for directories and, without execute, for files."""
    modes = []
    if "mode" in item:
        mode = int(item["mode"], 8)
        modes = ["--file-mode", f"{mode & 0o666:04o}", "--dir-mode", f"{mode:04o}"]
    if item["type"] == "s3":  # objects cannot be setuid or devices: mount-s3 serves permission bits only
        flags = ["--read-only"] * item["read_only"] + (["--prefix", item["prefix"]] if "prefix" in item else [])
        return ["/usr/bin/mount-s3", "--foreground", *flags, *modes, *["--allow-other"] * item["allow_other"]]
    fuse = ["ro"] * item["read_only"] + ["nosuid", "nodev"]
    fuse += ["allow_other", "default_permissions"] * item["allow_other"]  # others, within owner and mode
    return ["/usr/bin/gcsfuse", "--foreground", *modes, *(["-o", ",".join(fuse)] if fuse else [])]


# What the mounts' tools are called on each family of distros (mount-s3: the URL of its package file).
NFS_TOOLS = Package(debian="nfs-common")
XFS_TOOLS = Package(debian="xfsprogs")
FUSE_LIBRARY = Package(debian="fuse")
MOUNT_S3 = Package(debian="https://s3.amazonaws.com/mountpoint-s3-release/latest/x86_64/mount-s3.deb")
GCSFUSE = Package(debian="gcsfuse")
GCSFUSE_REPOSITORY = Repository("gcsfuse", "https://packages.cloud.google.com/apt/doc/apt-key.gpg", "cloud.google",
                                {"debian": "https://packages.cloud.google.com/apt gcsfuse-$codename main"})  # fmt: skip


def _tools(kinds: set[str], xfs: bool, distro: Distro) -> str:
    """The tools' step for these kinds of mount, by their names on ``distro`` (only those it needs)."""
    names: dict[str, Any] = {"kinds": sorted(kinds), "xfs": xfs, "distro": distro}
    if kinds & {"nfs", "efs"}:
        names["nfs"] = distro.name_of(NFS_TOOLS)
    if xfs:
        names["xfsprogs"] = distro.name_of(XFS_TOOLS)
    if kinds & {"s3", "gcs"}:
        names["fuse"] = distro.name_of(FUSE_LIBRARY)
    if "s3" in kinds:
        names["mount_s3"] = distro.name_of(MOUNT_S3)
    if "gcs" in kinds:
        names["gcsfuse"] = distro.name_of(GCSFUSE)
        names["gcsfuse_repository"] = distro.add_repository(GCSFUSE_REPOSITORY)
    return render("features/mounts/tools.sh.j2", **names)


def steps(config: list[Any], context: Any) -> list[Step]:
    # parent first: a mount inside another goes on the mounted filesystem, not under it
    mounts = [_prepare(item) for item in sorted(config, key=lambda i: normal(i["path"]))]
    if not mounts:
        return []
    kinds = {m["type"] for m in mounts}
    tools = _tools(kinds, any(m.get("fs") == "xfs" for m in mounts), context.distro)
    mount = render("features/mounts/mount.sh.j2", mounts=mounts, distro=context.distro)
    paths = ", ".join(m["path"] for m in mounts)
    return [
        Step("mounts-tools", Phase.FIRST_BOOT, Scope.IMAGE, KEY, tools, "install mount tools", cost="network"),
        Step("mounts", Phase.EVERY_BOOT, Scope.INSTANCE, KEY, mount, f"mount {paths}"),
    ]  # fmt: skip


CLOUD_ONLY = {"efs": "an EFS file system", "s3": "an S3 bucket and credentials for it",
              "gcs": "a GCS bucket and credentials for it"}  # fmt: skip
DOWNLOADS = {"s3": "mount-s3 from s3.amazonaws.com", "gcs": "gcsfuse from Google's apt repository"}


def needs(config: list[Any]) -> Needs:
    kinds = {item["type"] for item in config}
    packages = {NFS_TOOLS} if kinds & {"nfs", "efs"} else set()
    packages |= {FUSE_LIBRARY} if kinds & {"s3", "gcs"} else set()
    packages |= {XFS_TOOLS} if any(item.get("filesystem") == "xfs" for item in config) else set()
    return Needs(
        packages=tuple(sorted(packages)),
        internet=tuple(f"mounts: {DOWNLOADS[kind]}" for kind in sorted(kinds & DOWNLOADS.keys())),
        cloud=tuple(f"mounts: {CLOUD_ONLY[kind]}" for kind in sorted(kinds & CLOUD_ONLY.keys())),
    )
