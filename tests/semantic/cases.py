"""The semantic tier's cases: which profiles, what each expects, and the machine each boots on.

A corpus profile may start with comments the tier reads (a real profile cannot say what hardware it
will get, nor what a reviewer expects of it):

    # expect: ok                              (the default) or: refused: <part of validate's message>
    # machine: gpu                            an NVIDIA GPU on the PCI bus
    # cloud: gcp                              the cloud for the bash and cloud-init targets (default:
    #                                         the one the profile's references name, else aws)
    # os: ubuntu 24.04                        debian 12 (default), ubuntu 22.04, ubuntu 24.04
    # installed: cuda-keyring                 packages the image already has
    # disk: /dev/nvme1n1                      an empty disk attached there (then only the disks
    # disk: /dev/sdb ext4 label=L uuid=U      declared are attached); or one holding a filesystem
    # disk: /dev/nvme2n1 as=/dev/disk/by-id/X with the names udev gives it
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bootstrap.targets import TARGET_RECORDS

from .machine import Disk, MachineSpec

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "corpus"
TARGETS = tuple(TARGET_RECORDS)  # every target, in the registry's order
TARGET_CLOUD = {name: record.provider for name, record in TARGET_RECORDS.items() if record.provider}


@dataclass
class Header:
    expect: str = "ok"  # "ok" or "refused"
    refused_with: str = ""
    gpu: bool = False
    cloud: str = ""
    os: str = "debian 12"
    installed: list[str] = field(default_factory=list)
    disks: list[Disk] = field(default_factory=list)


def header(path: Path) -> Header:
    found = Header()
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        match = re.match(r"#\s*(expect|machine|cloud|os|installed|disk):\s*(.*?)\s*$", line)
        if not match:
            continue
        key, value = match.groups()
        if key == "expect":
            found.expect, _, found.refused_with = (part.strip() for part in value.partition(":"))
            assert found.expect in ("ok", "refused"), f"{path}: expect: ok or refused: MESSAGE"
        elif key == "machine":
            found.gpu = "gpu" in value.split()
        elif key == "cloud":
            found.cloud = value
        elif key == "os":
            found.os = value
        elif key == "installed":
            found.installed += value.split()
        else:
            device, *rest = value.split()
            options = dict(word.split("=", 1) for word in rest if "=" in word)
            filesystem = next((word for word in rest if "=" not in word), None)
            found.disks.append(
                Disk(
                    device,
                    [options["as"]] if "as" in options else [],
                    filesystem,
                    options.get("label", ""),
                    options.get("uuid", ""),
                )
            )
    return found


@dataclass(frozen=True)
class Case:
    """One profile file, by its path under the repository."""

    path: str
    kind: str  # built-in, example, corpus

    @property
    def name(self) -> str:
        return Path(self.path).stem

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def file(self) -> Path:
        return REPO / self.path


def cases() -> list[Case]:
    found = [Case(str(p.relative_to(REPO)), "built-in") for p in sorted((REPO / "profiles").glob("*.yaml"))]
    found += [Case(str(p.relative_to(REPO)), "example") for p in sorted((REPO / "examples").glob("**/profiles/*.yaml"))]
    found += [Case(str(p.relative_to(REPO)), "corpus") for p in sorted(CORPUS.glob("*.yaml"))]
    return found


def _references(data: dict[str, Any]) -> set[str]:
    """The clouds a profile's references name."""
    clouds = set()
    for secret in data.get("secrets") or []:
        clouds.add("gcp" if secret["from"].startswith("gcp-") else "aws")
    for mount in data.get("mounts") or []:
        device = mount.get("device") or {}
        if mount["type"] in ("gcs",) or "gce_disk" in device:
            clouds.add("gcp")
        if mount["type"] in ("s3", "efs") or "ebs_volume_id" in device:
            clouds.add("aws")
    for env in (data.get("conda") or {}).get("environments") or []:
        url = env.get("url", "")
        if url.startswith("gs://"):
            clouds.add("gcp")
        if url.startswith("s3://"):
            clouds.add("aws")
    return clouds


def cloud_for(data: dict[str, Any], head: Header, target: str) -> str:
    if target in TARGET_CLOUD:
        return TARGET_CLOUD[target]
    if head.cloud:
        return head.cloud
    named = _references(data)
    return "gcp" if named == {"gcp"} else "aws"


def secret_value(reference: str) -> str:
    return "semantic-" + hashlib.sha256(reference.encode()).hexdigest()[:24] + "\n"


DEFAULT_SPEC = "channels: [conda-forge]\ndependencies: [python=3.11, pip, ipykernel]\n"


# Names only one cloud's udev rules give a disk: such a disk is that cloud's.
CLOUD_DISK_NAMES = {
    "/dev/disk/by-id/google-": "gcp",
    "/dev/disk/by-id/scsi-0Google_": "gcp",
    "/dev/disk/by-id/nvme-Amazon_": "aws",
}


def attaches(disk: Disk, cloud: str) -> bool:
    """A disk a corpus file declares is on every cloud, unless its names are one cloud's."""
    clouds = {c for prefix, c in CLOUD_DISK_NAMES.items() for link in disk.links if link.startswith(prefix)}
    return not clouds or cloud in clouds


def spec_for(data: dict[str, Any], head: Header, target: str) -> MachineSpec:
    """The machine a profile boots on for a target: that target's cloud, the disks the profile mounts
    (attached as that cloud attaches them), the secrets and objects it names, readable there."""
    cloud = cloud_for(data, head, target)
    disks = [disk for disk in head.disks if attaches(disk, cloud)]
    if not head.disks:
        letters = iter("bcdefghij")
        for mount in data.get("mounts") or []:
            if mount["type"] != "block":
                continue
            ((kind, value),) = mount["device"].items()
            letter = next(letters)
            if kind == "ebs_volume_id" and cloud == "aws":
                disks.append(
                    Disk(
                        f"/dev/nvme{letter}n1",
                        [f"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{value.replace('-', '')}"],
                    )
                )
            elif kind == "gce_disk" and cloud == "gcp":
                disks.append(Disk(f"/dev/sd{letter}", [f"/dev/disk/by-id/google-{value}"]))
            elif kind in ("label", "uuid"):  # a disk found by its filesystem already holds one
                fs = mount.get("filesystem", "ext4")
                uuid = value if kind == "uuid" else "5d1a7c2e-0b6f-4e3a-9c1d-2f8e7a6b5c4d"
                disks.append(Disk(f"/dev/vd{letter}", [], fs, value if kind == "label" else "", uuid))
            elif kind == "path":
                links = [] if value.count("/") == 2 else [value]
                disks.append(Disk(value if not links else f"/dev/vd{letter}", links))
    conda = data.get("conda") or {}
    micromamba = (conda.get("micromamba") or {}).get("version", "2.0.5-0").rsplit("-", 1)[0]
    secrets = {s["from"]: secret_value(s["from"]) for s in data.get("secrets") or []}
    objects = {}
    for env in conda.get("environments") or []:
        if env.get("url"):
            objects[env["url"]] = f"name: {env['name']}\n{DEFAULT_SPEC}"
    return MachineSpec(
        cloud=cloud,
        gpu=head.gpu,
        os=head.os,
        disks=disks,
        installed=head.installed,
        cloud_init=target != "gce",
        micromamba=micromamba,
        secrets=secrets,
        objects=objects,
    )
