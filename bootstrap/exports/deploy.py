"""What launching a profile's machine needs besides its image and user data, read off the profile.

A Terraform or Packer template that boots the user data but forgets the instance profile its secrets
are read with, the disk its conda environments fill, the GPU its driver waits for or the data disk it
mounts deploys a machine that fails at boot. The exports turn these facts into variables whose
defaults come from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

BASE_DISK_GB = 10  # Debian 12 with the everyday packages, and room for logs
NVIDIA_DISK_GB = 20  # driver, DKMS build, CUDA toolkit and cuDNN
CONDA_ENV_DISK_GB = 10  # a scientific or deep-learning environment with its package cache
DEFAULT_GPU = {"aws_instance_type": "g5.xlarge", "gcp_machine_type": "n1-standard-8", "gcp_gpu": "nvidia-tesla-t4"}


@dataclass(frozen=True)
class GcpGrant:
    """A role the machine's service account needs on one resource."""

    kind: str  # "secret" or "bucket"
    project: str  # "" for buckets (global names)
    name: str
    role: str


@dataclass(frozen=True)
class DataDisk:
    cloud: str  # "aws" (an EBS volume id) or "gcp" (a persistent disk name)
    ident: str
    path: str


@dataclass(frozen=True)
class Deployment:
    aws_statements: list[dict[str, Any]] = field(default_factory=list)  # IAM policy of the instance's role
    gcp_grants: list[GcpGrant] = field(default_factory=list)
    root_disk_gb: int = BASE_DISK_GB
    gpu: bool = False  # the profile installs the NVIDIA driver: launch it with a GPU
    gpu_at_bake: bool = False  # ...and the driver is installed into the image only on a GPU builder
    data_disks: list[DataDisk] = field(default_factory=list)

    @property
    def aws_role(self) -> bool:
        return bool(self.aws_statements)

    @property
    def gcp_account(self) -> bool:
        return bool(self.gcp_grants)


def deployment(profile: dict[str, Any]) -> Deployment:
    """The facts of a loaded profile (defaults filled in)."""
    statements: list[dict[str, Any]] = []
    grants: list[GcpGrant] = []
    for secret in profile.get("secrets", []):
        kind, ref = secret["from"].split(":", 1)
        if kind == "aws-ssm":
            statements.append(_allow(["ssm:GetParameter"], f"arn:aws:ssm:*:*:parameter/{ref.lstrip('/')}"))
        elif kind == "aws-secretsmanager":  # Secrets Manager appends 6 random characters to the ARN
            statements.append(_allow(["secretsmanager:GetSecretValue"], f"arn:aws:secretsmanager:*:*:secret:{ref}-*"))
        elif match := re.match(r"projects/([^/]+)/secrets/([^/]+)/", ref):
            grants.append(GcpGrant("secret", match[1], match[2], "roles/secretmanager.secretAccessor"))
    disks = []
    for mount in profile.get("mounts", []):
        if mount["type"] == "s3":
            bucket, prefix = mount["bucket"], mount.get("prefix", "")
            statements.append(_allow(["s3:ListBucket"], f"arn:aws:s3:::{bucket}"))
            actions = ["s3:GetObject"] + ([] if mount["read_only"] else
                                          ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"])  # fmt: skip
            statements.append(_allow(actions, f"arn:aws:s3:::{bucket}/{prefix}*"))
        elif mount["type"] == "gcs":
            role = "roles/storage.objectViewer" if mount["read_only"] else "roles/storage.objectUser"
            grants.append(GcpGrant("bucket", "", mount["bucket"], role))
        elif mount["type"] == "block":
            device = mount["device"]
            if "ebs_volume_id" in device:
                disks.append(DataDisk("aws", device["ebs_volume_id"], mount["path"]))
            elif "gce_disk" in device:
                disks.append(DataDisk("gcp", device["gce_disk"], mount["path"]))
    nvidia: dict[str, Any] = profile.get("nvidia") or {}
    environments = len(profile.get("conda", {}).get("environments", []))
    disk = BASE_DISK_GB + (NVIDIA_DISK_GB if nvidia else 0) + CONDA_ENV_DISK_GB * environments
    return Deployment(aws_statements=statements, gcp_grants=grants, root_disk_gb=disk, gpu=bool(nvidia),
                      gpu_at_bake=bool(nvidia) and not nvidia.get("install_without_gpu"), data_disks=disks)  # fmt: skip


def _allow(actions: list[str], resource: str) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resource}


def slug(text: str) -> str:
    """A Terraform-safe name part."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "root"
