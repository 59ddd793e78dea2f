"""apt, the Debian family's package manager: its helpers live in templates/distro/apt/lib.sh.j2."""

from __future__ import annotations

from . import PackageManager

APT = PackageManager(
    name="apt",
    library="distro/apt/lib.sh.j2",
    install="apt_install",
    install_file="dpkg -i",
    installed="pkg_installed",
    hold="apt-mark hold --",
    sources_changed="apt_sources_changed",
    repository="distro/apt/repository.sh.j2",
    seal="distro/apt/seal.sh.j2",
    list_installed="distro/apt/installed.sh.j2",
)
