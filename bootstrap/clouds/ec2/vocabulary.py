"""How EC2 spells bootstrap's names: tags keep our keys (``bootstrap:owner``...) as they are; a channel
is also an SSM parameter per region, the name launch templates and Terraform resolve."""

from __future__ import annotations

PARAMETER_PREFIX = "/bootstrap"  # promote writes /bootstrap/<profile>/latest in each region
DEFAULT_INSTANCE_TYPE = "t3.small"
DEBIAN_OWNER = "136693071363"  # Debian's AWS account (official Debian AMIs)
DEBIAN_AMI_NAMES = "debian-12-amd64-*"
PACKER_SOURCE = "{{ .SourceAMI }}"  # amazon-ebs fills its tags with the AMI the builder started from


def tags(values: dict[str, str]) -> dict[str, str]:
    """Our tags as EC2 resources carry them: unchanged."""
    return dict(values)


def parameter(profile: str, channel: str) -> str:
    """The SSM parameter holding the AMI id that ``channel`` of ``profile`` points at."""
    return f"{PARAMETER_PREFIX}/{profile}/{channel}"


def machine_name(role: str, profile: str) -> str:
    return f"bootstrap-{role}-{profile}"
