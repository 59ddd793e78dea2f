"""nvidia: driver (DKMS, proprietary or open kernel modules), CUDA toolkit, cuDNN, container toolkit.

Installed from NVIDIA's CUDA apt repository (the ``cuda-keyring`` package) on Ubuntu 22.04,
24.04 and Debian 12. Versions are checked against the table below at validation time. The install
script is the Debian family's (NVIDIA's deb repositories, Debian's contrib component): ``DKMS`` names
only that family, so a profile of another distro is refused until it gets its own.
"""

from __future__ import annotations

from typing import Any

from .. import layout
from ..distro import Package
from ..errors import Problem
from ..plan import Phase, Scope, Step
from ..templating import render
from . import Needs, problem

KEY = "nvidia"
AFTER = frozenset({"packages"})  # its install uses the packages' tools (users come after: its groups)

DRIVER_BRANCHES = ("525", "530", "535", "545", "550", "555", "560", "565", "570", "575", "580", "590")
# CUDA toolkit -> the oldest driver branch its GA release supports on Linux (CUDA release notes,
# "CUDA Toolkit and Corresponding Driver Versions"). Minor-version compatibility would allow
# older drivers within a major version, but without the toolkit's newest features: we refuse it.
CUDA_MIN_DRIVER = {
    "11.8": "520", "12.0": "525", "12.1": "530", "12.2": "535", "12.3": "545", "12.4": "550", "12.5": "555",
    "12.6": "560", "12.8": "570", "12.9": "575", "13.0": "580",
}  # fmt: skip
# sha256 of cuda-keyring_1.1-1_all.deb per repository, from NVIDIA's Packages index where we have
# it; elsewhere the download is trusted on HTTPS alone (the step says which).
DKMS = Package(debian="dkms")  # from the distro's archive; the rest from NVIDIA's repository
KEYRING_SHA256 = {"ubuntu2404": "d2a6b11c096396d868758b86dab1823b25e14d70333f1dfa74da5ddaf6a06dba"}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["driver"],
    "additionalProperties": False,
    "description": "NVIDIA driver and CUDA from NVIDIA's CUDA apt repository (Ubuntu 22.04/24.04, Debian 12). "
    "Skipped with a log line on machines without an NVIDIA GPU unless install_without_gpu is true (a bake's "
    "builder installs it all the same: the image is for GPU machines). A driver "
    "install asks for a reboot and the phase resumes after it. Every boot: persistence mode and nvidia-smi in "
    f"{layout.NVIDIA_REPORT}.",
    "examples": [{"driver": "550", "cuda": "12.4", "cudnn": True}],
    "properties": {
        "driver": {"enum": list(DRIVER_BRANCHES), "description": "Driver branch.", "examples": ["550"]},
        "kernel_modules": {"enum": ["proprietary", "open"], "default": "proprietary",
                           "description": "open: NVIDIA's open GPU kernel modules (Turing and newer; Ubuntu).",
                           "examples": ["open"]},
        "cuda": {"enum": list(CUDA_MIN_DRIVER), "description": "CUDA toolkit version (cuda-toolkit-X-Y).",
                 "examples": ["12.4"]},
        "cudnn": {"type": "boolean", "default": False, "description": "cuDNN 9 for the CUDA major version.",
                  "examples": [True]},
        "container_toolkit": {"type": "boolean", "default": False,
                              "description": "NVIDIA Container Toolkit (GPUs in Docker/containerd).",
                              "examples": [True]},
        "install_without_gpu": {"type": "boolean", "default": False,
                                "description": "Install even when no GPU is present (a bake always does: GPU "
                                "images from CPU builders).", "examples": [True]},
    },
}  # fmt: skip


def check(config: dict[str, Any], context: Any) -> list[Problem]:
    problems = []
    cuda, driver = config.get("cuda"), config["driver"]
    if cuda and int(driver) < int(CUDA_MIN_DRIVER[cuda]):
        needed = CUDA_MIN_DRIVER[cuda]
        message = f"CUDA {cuda} needs driver branch {needed} or newer, not {driver}"
        problems.append(problem(config, "cuda", message, f"use driver: '{needed}' or an older cuda"))
    if config.get("cudnn") and not cuda:
        problems.append(problem(config, "cudnn", "cudnn needs a cuda version", "add cuda: '12.4', for example"))
    return problems


def _settings(config: dict[str, Any], context: Any) -> dict[str, Any]:
    cuda = config.get("cuda", "")
    return {
        "distro": context.distro,
        "dkms": context.distro.name_of(DKMS),
        "branch": config["driver"],
        "open": config["kernel_modules"] == "open",
        "cuda": cuda,
        "cuda_package": f"cuda-toolkit-{cuda.replace('.', '-')}" if cuda else "",
        "cudnn_package": f"cudnn9-cuda-{cuda.split('.')[0]}" if cuda and config["cudnn"] else "",
        "container_toolkit": config["container_toolkit"],
        "without_gpu": config["install_without_gpu"],
        "keyring_sha256": sorted(KEYRING_SHA256.items()),
    }


def steps(config: dict[str, Any], context: Any) -> list[Step]:
    settings = _settings(config, context)
    summary = f"NVIDIA driver {settings['branch']}" + (f", CUDA {settings['cuda']}" if settings["cuda"] else "")
    return [
        Step("nvidia-install", Phase.FIRST_BOOT, Scope.IMAGE, KEY,
             render("features/nvidia/install.sh.j2", **settings), f"install {summary}", cost="heavy"),
        Step("nvidia-boot", Phase.EVERY_BOOT, Scope.INSTANCE, KEY,
             render("features/nvidia/boot.sh.j2", **settings), "persistence mode, GPU status, late driver install"),
    ]  # fmt: skip


INSTALL_NEEDS = Needs(packages=(DKMS,), internet=("nvidia: the driver and CUDA from NVIDIA's apt repository",))


def needs(config: dict[str, Any]) -> Needs:
    # Without a GPU (a local guest has none) the install is skipped, unless the profile asks for it anyway.
    return INSTALL_NEEDS if config["install_without_gpu"] else Needs()


def bake_needs(config: dict[str, Any]) -> Needs:
    return INSTALL_NEEDS  # a bake installs the driver whatever its builder has
