"""Debian (and Ubuntu, which shares its family's package names and apt): the default distro."""

from __future__ import annotations

from . import Distro
from ._apt import APT

DISTRO = Distro(name="debian", family="debian", description="Debian 12 or Ubuntu 22.04/24.04, with apt", manager=APT)
