"""What a local guest gets around its user data, decided before booting from what the profile needs.

With no flags, a guest gets network when this host reaches a Debian mirror (QEMU's user-mode NAT goes
out through the host), and otherwise a local apt repository of the Debian packages its steps install.
What no local guest can give (downloads beyond Debian without a route, a cloud's metadata service)
is said before booting, with what to do instead, rather than failing minutes into the boot.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..distro import all_distros
from ..errors import InputError, Problem
from ..features import Needs
from .machine import GuestSetup

MIRROR_ENV = "BOOTSTRAP_GUEST_MIRROR"  # host:port standing for the guest's Debian mirror (tests point it nowhere)
DEFAULT_MIRROR = "deb.debian.org:80"  # the base image's apt source (mmdebstrap's default)
GUEST_DISTRO = "debian"  # what the local guest boots (Debian 12): its names for the packages go in the repository
APT_TOOLS = ("apt-get", "apt-cache", "dpkg-scanpackages", "genisoimage")


def mirror() -> tuple[str, int]:
    host, _, port = os.environ.get(MIRROR_ENV, DEFAULT_MIRROR).rpartition(":")
    return host, int(port) if port.isdigit() else 80


def mirror_reachable(timeout: float = 3.0) -> bool:
    """Whether this host opens a connection to the Debian mirror (so the guest's NAT would too)."""
    try:
        socket.create_connection(mirror(), timeout=timeout).close()
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class GuestChoice:
    """The guest decided for a profile: network or not, and the packages of a local apt repository."""

    network: bool
    apt_packages: tuple[str, ...] = ()  # empty: no local repository
    lines: list[str] = field(default_factory=list)  # what was decided and why, said before booting

    def setup(self) -> GuestSetup:
        """The guest's setup (builds the local apt repository when one is needed: a download, once)."""
        if not self.apt_packages:
            return GuestSetup(network=self.network)
        from .aptrepo import local_apt_setup

        return local_apt_setup(list(self.apt_packages), self.network)


def choose_guest(needs: Needs, *, network: bool | None, local_apt: bool | None, extra: Sequence[str] = (),
                 instance_steps: bool = True, dry_run: bool = False,
                 reachable: Callable[[], bool] = mirror_reachable) -> GuestChoice:  # fmt: skip
    """Decide the guest for ``needs``; ``None`` options are automatic. ``instance_steps``: the boot runs
    instance-scope steps (a test, a bake that tests its image), which may need a cloud's own services.
    Raises UsageError, before anything boots, for what the guest could not have (a dry run, which builds
    nothing, does not look for the tools that would build the apt repository)."""
    if instance_steps and needs.cloud:
        raise InputError(Problem("a local guest cannot give what this profile's steps need from a cloud:\n  "
                                 + "\n  ".join(needs.cloud), None, "prove it on the cloud (bootstrap bake -b ec2 or "
                                 "-b gce); `bake -b local --no-test` bakes the image without the test boot "
                                 "that needs them (promoted untested), or test a profile without them"))  # fmt: skip
    host, port = mirror()
    route = network is not False and reachable()
    lines = []
    if network is False:
        lines.append("guest network: off (--no-network)")
    elif route:
        lines.append(f"guest network: on (this host reaches {host}:{port})")
    elif network:
        lines.append(f"guest network: on (--network), but this host reaches no Debian mirror ({host}:{port})")
    else:
        lines.append(f"guest network: off (this host reaches no Debian mirror: {host}:{port})")
    if needs.internet and not route:
        why = "--no-network was given" if network is False else f"this host has no route to {host}:{port}"
        hint = "drop --no-network" if network is False else "test it on a machine with internet"
        raise InputError(Problem("this profile downloads more than Debian packages, and the guest would have no "
                                 f"internet ({why}):\n  " + "\n  ".join(needs.internet), None, hint))  # fmt: skip
    packages = tuple(sorted({*needs.package_names(all_distros()[GUEST_DISTRO]), *extra}))
    use_repo = local_apt if local_apt is not None else bool(packages) and not route
    if use_repo:
        missing = [tool for tool in APT_TOOLS if shutil.which(tool) is None]
        if not dry_run and (missing or _host_release() != "bookworm"):
            why = f"it lacks {', '.join(missing)}" if missing else "it does not run Debian 12 (the guest's release)"
            raise InputError(Problem(
                f"the guest needs {len(packages)} Debian packages without a mirror, from a local apt repository "
                f"built on this host, but {why}",
                None, "run on a machine with internet, or on Debian 12 with: apt-get install dpkg-dev genisoimage",
            ))  # fmt: skip
        reason = "--local-apt" if local_apt else "no route to a mirror"
        lines.append(f"apt: {len(packages)} Debian packages from a local repository built on this host ({reason})")
    return GuestChoice(network=network if network is not None else route, apt_packages=packages if use_repo else (),
                       lines=lines)  # fmt: skip


@dataclass(frozen=True)
class GuestOptions:
    """What was asked of a local guest (bake's and test's --network, --local-apt, --apt-package); ``None``:
    automatic, from what this host reaches."""

    network: bool | None = None
    local_apt: bool | None = None
    extra: tuple[str, ...] = ()  # more packages for the local apt repository


def guest_for(profiles: Sequence[Any], options: GuestOptions, *, instance_steps: bool = True, dry_run: bool = False,
              bake: bool = True) -> GuestChoice:  # fmt: skip
    """The local guest for these (loaded) profiles: what they need together, decided by choose_guest. With
    several profiles (a rebuild), each fails on its own for what no guest can give: only their packages add up."""
    from ..features import needs

    total = Needs()
    for profile in profiles:
        total |= needs(profile.data, bake=bake)
    if len(profiles) > 1:
        total = Needs(packages=total.packages)
    return choose_guest(total, network=options.network, local_apt=options.local_apt, extra=options.extra,
                        instance_steps=instance_steps, dry_run=dry_run)  # fmt: skip


def _host_release() -> str:
    try:
        fields = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    except OSError:
        return ""
    return fields.get("VERSION_CODENAME", "").strip('"')
