"""A local apt repository for offline test guests: ``.deb`` files from the host's apt, indexed with
``dpkg-scanpackages``, packed into an ISO image the guest sees as a read-only disk.

The host must run the guest's release (Debian 12 here) so the downloaded packages fit. Each
package comes with its whole dependency closure; apt in the guest installs only what is missing.
Repositories are cached by their package list.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from .. import hermetic, locks
from ..errors import BackendError
from .image import APT_SERIAL, private_cache
from .machine import GuestSetup


def build_apt_repo(packages: list[str]) -> Path:
    """The ISO image of a repository holding ``packages`` and their dependencies (built once, cached)."""
    key = hashlib.sha256("\n".join(sorted(packages)).encode()).hexdigest()[:16]
    iso = private_cache("apt-repos") / f"{key}.iso"
    if iso.exists():
        return iso
    for tool in ("apt-get", "apt-cache", "dpkg-scanpackages", "genisoimage"):
        if shutil.which(tool) is None:
            raise BackendError(f"a local apt repository needs {tool} (apt-get install dpkg-dev genisoimage)")
    with locks.exclusive(iso.with_suffix(".lock"), f"the local apt repository {iso.name}"):
        if iso.exists():
            return iso  # another run built it while this one waited
        with tempfile.TemporaryDirectory(prefix=".apt-repo-", dir=iso.parent) as work:
            repo = Path(work) / "repo"
            repo.mkdir()
            names = _closure(packages)
            _run(["apt-get", "download", "-q", *names], repo)
            index = hermetic.run(["dpkg-scanpackages", "--multiversion", "."], cwd=repo, timeout=600)
            if index.returncode != 0:
                raise BackendError(f"dpkg-scanpackages failed: {index.stderr.strip()[-1000:]}")
            (repo / "Packages").write_text(index.stdout)
            built = Path(work) / "repo.iso"
            _run(["genisoimage", "-quiet", "-output", str(built), "-volid", "bootstrap-apt", "-rock", str(repo)], repo)
            built.rename(iso)  # readers see the whole image or none
    return iso


def _closure(packages: list[str]) -> list[str]:
    proc = hermetic.run(
        ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts", "--no-breaks",
         "--no-replaces", "--no-enhances", *packages],
        timeout=300,
    )  # fmt: skip
    if proc.returncode != 0:
        raise BackendError(f"apt-cache depends failed (apt-get update first?): {proc.stderr.strip()[-1000:]}")
    # Lines without indentation name packages; '<virtual>' ones have no .deb of their own.
    names = {line.strip() for line in proc.stdout.splitlines() if line and not line[0].isspace()}
    return sorted(n for n in names if not n.startswith("<"))


def local_apt_setup(packages: list[str], network: bool = False) -> GuestSetup:
    """A guest whose apt sees only a repository of ``packages`` built on this host: the base image
    mounts the disk and makes it apt's only source before any client runs (image.APT_UNIT), as the
    guest's network, when it has one, reaches no mirror it should use."""
    return GuestSetup(read_only_disks={APT_SERIAL: build_apt_repo(packages)}, network=network)


def _run(command: list[str], cwd: Path) -> None:
    proc = hermetic.run(command, cwd=cwd, timeout=1800)  # apt-get download: a few hundred packages
    if proc.returncode != 0:
        raise BackendError(f"{command[0]} failed: {proc.stderr.strip()[-1000:]}")
