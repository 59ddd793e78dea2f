"""What the runner refuses about mounts beyond their own fields: mount points that users other than
root could redirect, and root's files written through them.

The runner (templates/runner/lib.sh.j2, ``root_only``) walks every folder on the way to a mount
point, or to a file it writes for root, and refuses the way when a folder there is owned by a user
other than root, writable by its group or by everyone (mode & 022), or a shared sticky folder
(mode 1777) in which the next part does not exist yet or is not root's. A mount's ``owner`` and
``mode`` are what the mounts step gives the mounted filesystem's root (``finish``; a FUSE mount's
``--uid``/``--dir-mode``), and the mounts step goes parent first: whatever lies below such a mount
goes through a folder the runner will not pass as root. Only what the profile declares is judged:
without ``owner``/``mode``, the filesystem's root keeps what it holds (root's 0755 on a new disk).
"""

from __future__ import annotations

import posixpath
from typing import Any

from .. import layout
from ..errors import Problem
from . import problem

# Folders every user may write (root's, mode 1777), with what systemd-tmpfiles may do to them.
SHARED = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/lock")


def normal(path: str) -> str:
    """``path`` as the kernel walks it ('/home/./alice//data/..' is /home/alice), links aside."""
    return posixpath.normpath("/" + path.lstrip("/"))


def below(path: str, folder: str) -> bool:
    """Whether normal ``path`` lies strictly inside normal ``folder``."""
    return path.startswith(folder.rstrip("/") + "/")


def where(item: Any) -> str:
    """The profile line of a mount, as file:line, for a message about another entry."""
    mark = getattr(item, "value_marks", {}).get("path") or getattr(item, "mark", None)
    return f"{mark.source}:{mark.line}" if mark is not None else "the profile"


def changeable(item: dict[str, Any]) -> tuple[str, str] | None:
    """Why a user other than root can change the root of mount ``item`` once it is mounted, and who,
    or None when the profile leaves it root's (or says nothing of it)."""
    user = item.get("owner", "").split(":")[0]
    if user and user != "root":
        return f"its owner {user} can change it", user
    mode = int(item["mode"], 8) if "mode" in item else 0
    if mode & 0o1000 and mode & 0o022:
        return (f"its mode {item['mode']} makes it a shared sticky folder, where any user may create a name "
                "before root does", "any user")  # fmt: skip
    if mode & 0o002:
        return f"its mode {item['mode']} lets every user change it", "any user"
    if mode & 0o020:
        group = item.get("owner", "").partition(":")[2]
        who = f"any member of group {group}" if group else "any member of its group"
        return f"its mode {item['mode']} lets {who} change it", who
    return None


def _leaf(path: str) -> str:
    return posixpath.basename(path) or "data"


def shared_problems(item: dict[str, Any]) -> list[Problem]:
    """A mount point at or in a folder every user may write (rule: /tmp, /var/tmp, /dev/shm...)."""
    path = normal(item["path"])
    for shared in SHARED:
        leaf = _leaf(path) if path != shared else "scratch"
        hint = f"mount it at /data/{leaf} or /mnt/{leaf} (root's folders) and link to it from there if need be"
        if path == shared:
            return [problem(item, "path", f"mount point {path} is a scratch folder every user may write (mode 1777): "
                            "systemd-tmpfiles may empty it at boot or age out its files, whatever filesystem is "
                            "mounted there, and programs expect it open to every user", hint)]  # fmt: skip
        if below(path, shared):
            return [problem(item, "path", f"mount point {path} is in {shared}, a folder every user may write "
                            "(sticky, mode 1777): the runner will not make a mount point where another user could "
                            "have put one first (a link to /etc), so the boot stops at the mounts step; and "
                            "systemd-tmpfiles may clean what is there", hint)]  # fmt: skip
    return []


def nested_problems(config: list[Any]) -> list[Problem]:
    """A mount inside another mount of the profile whose root a user other than root can change: the
    mounts step mounts the outer one first (parent first), then refuses the inner mount point."""
    problems = []
    mounts = sorted(config, key=lambda m: normal(m["path"]))
    for inner in mounts:
        path = normal(inner["path"])
        for outer in mounts:
            found = changeable(outer)
            if found is None or not below(path, normal(outer["path"])):
                continue
            reason, who = found
            outside = normal(outer["path"])
            problems.append(
                problem(
                    inner,
                    "path",
                    f"mount point {path} is inside the mount at {outside} ({where(outer)}), and {reason}: the runner "
                    f"will not mount through a folder a user other than root can change ({who} could swap a folder on "
                    "the way for a link to /etc): the boot stops at the mounts step",
                    f"mount it beside {outside} (e.g. path: /mnt/{_leaf(path)}) and link to it from there, or leave "
                    f"{outside} root's and writable by root alone (no owner, or owner: root, and mode: '0755')",
                )
            )
            break  # the outermost such mount is where the runner stops
    return problems


def write_problems(config: list[Any], profile: dict[str, Any]) -> list[Problem]:
    """A file (files:) or secret (secrets:) for root that lies in a mount a user other than root can
    change. The runner's put_file writes through such a folder only as the file's owner, with that
    user's rights; for root it refuses ("refusing to write PATH as root"), and the boot stops there.
    A file of another user is written as that user: it is the mount's business whether they may."""
    mounts = sorted(config, key=lambda m: normal(m["path"]))
    entries = [("file", item, item["path"], item["path"]) for item in profile.get("files") or []]
    entries += [("secret", item, layout.secret_path(item["name"], item.get("path")), item["name"])
                for item in profile.get("secrets") or []]  # fmt: skip
    problems = []
    for kind, item, path, name in entries:
        owner = item.get("owner", "root:root")
        if owner.split(":")[0] != "root":
            continue
        for mount in mounts:
            found = changeable(mount)
            if found is None or not below(normal(path), normal(mount["path"])):
                continue
            reason, who = found
            mounted = normal(mount["path"])
            what = f"file {path}" if kind == "file" else f"secret {name} (written to {path})"
            user = mount.get("owner", "").split(":")[0]
            owners = f"owner: {user}" if user and user != "root" else "the owner of a user who may write there"
            elsewhere = "" if kind == "file" else f", or leave out path: (it then goes to {layout.SECRETS_DIR}/{name})"
            problems.append(
                problem(
                    item,
                    "path" if "path" in item else "name",
                    f"{what} is root's (owner: {owner}) but lies in the mount at {mounted} ({where(mount)}), and "
                    f"{reason}: the runner will not write a file for root through a folder a user other than root can "
                    f"change ({who} could put a link there to /etc/shadow): the boot stops at this {kind}'s step",
                    f"give it {owners} (the runner then writes it as that user, with that user's rights), or write it "
                    f"outside {mounted}{elsewhere}",
                )
            )
            break
    return problems


def user_folder_problems(kind: str, items: list[Any], profile: dict[str, Any]) -> list[Problem]:
    """A file or secret for root in a folder a user other than root can change, with no mount
    involved: a shared scratch folder (/tmp: sticky, every user may create a name in it first) or a
    home of an account that exists by then (the profile's users, a cloud's default user). The
    runner's put_file refuses to write it as root ("refusing to write PATH as root"): the boot stops."""
    from .mounts import DEFAULT_USERS

    declared = {user["name"] for user in profile.get("users") or []}
    problems = []
    for item in items:
        path = normal(item["path"] if kind == "file" else layout.secret_path(item["name"], item.get("path")))
        if (item.get("owner") or "root:root").split(":")[0] != "root":
            continue
        folder = next((f for f in SHARED if below(path, f) and path != f), None)
        home = "/".join(path.split("/")[:3]) if path.startswith("/home/") and path.count("/") >= 3 else ""
        name = home.split("/")[2] if home else ""
        if folder:
            why, hint = (f"{folder} is a folder every user may write (sticky): another user can create a name "
                         "on the way first", "write it where only root can change the folders on the way "
                         "(/etc, /var/lib/...), or give it the owner of a user who reads it")  # fmt: skip
        elif home and (name in declared or name in DEFAULT_USERS):
            why, hint = (f"{home} is {name}'s home, which {name} can change",
                         f"give it owner: {name} (written then as {name}), or write it outside {home}")
        else:
            continue
        what = f"file {path}" if kind == "file" else f"secret {item['name']} (written to {path})"
        problems.append(problem(item, "path" if "path" in item else "name",
                                f"{what} is root's but lies in {folder or home}: {why}, and the runner will not "
                                f"write a file for root through a folder a user other than root can change: the "
                                f"boot stops at this {kind}'s step", hint))  # fmt: skip
    return problems
