"""What only one cloud provides, in a profile rendered for another: an AWS secret on GCE, a GCS
bucket on EC2. The step would ask the wrong metadata service for its region or credentials and fail
at boot; `check` warns at the profile line, for each cloud target (a warning: a profile is often
meant for one cloud, and checked for all). A target's record names its cloud (`provider`); cloud-init
and bash run on any cloud: no finding."""

from __future__ import annotations

from typing import Any

from ..targets import TARGET_RECORDS
from ..yamlload import value_mark
from . import Finding

NAMES = {"aws": "AWS", "gcp": "Google Cloud"}
SECRET_CLOUDS = {"aws-ssm:": "aws", "aws-secretsmanager:": "aws", "gcp-secretmanager:": "gcp"}
MOUNT_CLOUDS = {"efs": "aws", "s3": "aws", "gcs": "gcp"}
DEVICE_CLOUDS = {"ebs_volume_id": "aws", "gce_disk": "gcp"}


def findings(profile: dict[str, Any], targets: list[str]) -> list[Finding]:
    uses = list(_uses(profile))
    result = []
    for target in targets:
        cloud = TARGET_RECORDS[target].provider if target in TARGET_RECORDS else ""
        for needed, what, mark in uses:
            if cloud and needed != cloud:
                message = (f"{what} is {NAMES[needed]}'s: on {NAMES[cloud]} (target {target}) its step fails at "
                           "boot (it asks the instance's own metadata service for the region and role)")
                hint = f"use {NAMES[cloud]}'s equivalent in a profile for {target} (a child profile per cloud, extends)"
                result.append(Finding("warning", "cloud", str(mark) if mark else "", message, hint, (target,)))
    return result


def _uses(profile: dict[str, Any]) -> Any:
    for secret in profile.get("secrets") or []:
        for prefix, cloud in SECRET_CLOUDS.items():
            if str(secret.get("from", "")).startswith(prefix):
                yield cloud, f"secret {secret['name']!r} from {prefix.rstrip(':')}", value_mark(secret, "from")
    for mount in profile.get("mounts") or []:
        if mount.get("type") in MOUNT_CLOUDS:
            yield (
                MOUNT_CLOUDS[mount["type"]],
                f"mount {mount['path']} (type {mount['type']})",
                value_mark(mount, "type"),
            )
        for key, cloud in DEVICE_CLOUDS.items():
            if key in (mount.get("device") or {}):
                yield cloud, f"mount {mount['path']}'s device {key}", value_mark(mount["device"], key)
