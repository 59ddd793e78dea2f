"""Which backend a bake, rebuild or reap talks to, built from the command line's choices."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from ..errors import UsageError

BACKENDS = ("local", "ec2", "gce")
DEFAULT_GCE_SOURCE = "projects/debian-cloud/global/images/family/debian-12"


def guest_choice(args: argparse.Namespace, *profiles: Any, instance_steps: bool = True, dry_run: bool = False,
                 bake: bool = True) -> Any:  # fmt: skip
    """The local guest for these profiles and options (a GuestChoice: say its lines, then build its setup).
    With several profiles (a rebuild), each fails on its own for what no guest can give."""
    from ..features import Needs, needs
    from ..localvm.guest import choose_guest

    total = Needs()
    for profile in profiles:
        total |= needs(profile.data, bake=bake)
    if len(profiles) > 1:
        total = Needs(packages=total.packages)
    return choose_guest(total, network=args.network, local_apt=args.local_apt, extra=args.apt_packages,
                        instance_steps=instance_steps, dry_run=dry_run)  # fmt: skip


def make_backend(args: argparse.Namespace, progress: Any, setup: Any = None) -> Any:
    target = getattr(args, "target", "cloud-init")
    if args.machine_image and args.backend != "gce":
        raise UsageError("--machine-image is for -b gce (GCE machine images)")
    if args.backend == "local":
        from .local import LocalBackend

        return LocalBackend(Path(args.output), progress=progress, setup=setup, client=target)
    if target != "cloud-init":  # a cloud's own backend hands over what that cloud takes
        flag = " (--gce-user-data for cloud-init user data)" if args.backend == "gce" else ""
        raise UsageError(f"--target is for -b local; -b {args.backend} hands the {args.backend} user data over "
                         f"to the cloud itself{flag}")  # fmt: skip
    if args.backend == "ec2":
        return _ec2_backend(args, progress)
    return _gce_backend(args, progress)


def _ec2_backend(args: argparse.Namespace, progress: Any) -> Any:
    try:
        import boto3
    except ImportError as exc:
        raise UsageError("the ec2 backend needs boto3: pip install 'bootstrap-profiles[aws]'") from exc
    from .ec2 import Ec2Backend

    session = boto3.Session(region_name=args.region) if args.region else boto3.Session()
    if not session.region_name:
        raise UsageError("ec2: no region: pass --region or configure one (AWS_DEFAULT_REGION, ~/.aws/config)")
    if not args.source and args.command not in ("reap", "images"):  # these look at tags, not at the source
        raise UsageError("ec2: pass --source: an AMI id, or ssm:/NAME of an SSM parameter holding one")
    return Ec2Backend(region=session.region_name, source=args.source or "",
                      instance_type=args.instance_type or "t3.small", subnet=args.subnet,
                      security_groups=tuple(args.security_groups),
                      instance_profile=args.instance_profile, regions=tuple(getattr(args, "copy_to", ())),
                      endpoint_url=args.endpoint_url, session=session, progress=progress,
                      follow_copies=args.command == "images" and not args.region)  # fmt: skip


def _gce_backend(args: argparse.Namespace, progress: Any) -> Any:
    try:  # the backend imports the client only when it connects: ask for it here, where the hint is
        import google.auth  # noqa: F401
        from google.cloud import compute_v1  # noqa: F401

        from .gce import GceBackend
    except ImportError as exc:
        raise UsageError("the gce backend needs google-cloud-compute: pip install 'bootstrap-profiles[gcp]'") from exc
    project = args.project or os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("CLOUDSDK_CORE_PROJECT")
    if not project:
        raise UsageError("gce: pass --project (or set GOOGLE_CLOUD_PROJECT)")
    if not args.zone:
        raise UsageError("gce: pass --zone, e.g. --zone europe-west1-b")
    endpoint = args.endpoint_url or os.environ.get("BOOTSTRAP_GCE_ENDPOINT")
    credentials = None
    if os.environ.get("BOOTSTRAP_GCE_CREDENTIALS") == "anonymous":  # local stand-ins of the API only
        from google.auth.credentials import AnonymousCredentials

        credentials = AnonymousCredentials()
    try:
        return GceBackend(project=project, zone=args.zone, source=args.source or DEFAULT_GCE_SOURCE,
                          machine_type=args.instance_type or "e2-standard-2", family=args.family,
                          subnetwork=args.subnet, endpoint=endpoint, credentials=credentials,
                          cloud_init=args.gce_user_data, machine_image=args.machine_image,
                          progress=progress)  # fmt: skip
    except Exception as exc:  # google.auth's DefaultCredentialsError, without importing it first
        if type(exc).__name__ == "DefaultCredentialsError":
            raise UsageError(f"gce: no credentials: {exc}") from exc
        raise
