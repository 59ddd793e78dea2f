"""GCE: images baked with google-cloud-compute (imported by backend.py only). Its options, principals and
the backend's construction; the names it gives are in vocabulary.py, its export fragments in exports.py."""

from __future__ import annotations

import os
from typing import Any

from ...errors import UsageError
from .. import LOOKS, Cloud, Context, Option, Values, building_options


def _zone_help(command: str) -> str:
    return f"the zone {'to look in' if command in LOOKS else 'to build in'} (e.g. europe-west1-b)"


OPTIONS = (
    Option(("--project",), "project id (default: GOOGLE_CLOUD_PROJECT)"),
    Option(("--zone",), _zone_help),
    *building_options(
        Option(("--family",), "image family (default bootstrap-PROFILE)"),
        Option(("--machine-image",), "also save the sealed builder as a machine image (all its disks, machine "
               "type, GPU, metadata), shared like the image", arguments={"action": "store_true"},
               refusal=" (GCE machine images)"),
        Option(("--gce-user-data",), "pass cloud-init user data (for images with cloud-init, e.g. Ubuntu's) "
               "instead of a startup-script", arguments={"action": "store_true"},
               refusal="; -b {backend} has no GCE startup-script to replace{hint}"),
        Option(("--source",), "projects/P/global/images/family/F (default Debian 12's family)"),
        Option(("--instance-type",), "machine type, default e2-standard-2"),
        Option(("--subnet",), "subnetwork"),
    ),
    Option(("--endpoint-url",), "another API endpoint (private clouds, tests; BOOTSTRAP_GCE_ENDPOINT too)"),
)  # fmt: skip
PRINCIPALS = {
    "member": r"(?:user|group|serviceAccount):[^@\s:]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+",
    "domain": r"domain:[a-z0-9-]+(?:\.[a-z0-9-]+)+",
}


def build(values: Values, context: Context) -> Any:
    try:  # the backend imports the client only when it connects: ask for it here, where the hint is
        import google.auth  # noqa: F401
        from google.cloud import compute_v1  # noqa: F401

        from .backend import GceBackend
    except ImportError as exc:
        raise UsageError("the gce backend needs google-cloud-compute: pip install 'bootstrap-profiles[gcp]'") from exc
    from .vocabulary import DEFAULT_MACHINE_TYPE, DEFAULT_SOURCE

    project = values["project"] or os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("CLOUDSDK_CORE_PROJECT")
    if not project:
        raise UsageError("gce: pass --project (or set GOOGLE_CLOUD_PROJECT)")
    if not values["zone"]:
        raise UsageError("gce: pass --zone, e.g. --zone europe-west1-b")
    endpoint = values["endpoint_url"] or os.environ.get("BOOTSTRAP_GCE_ENDPOINT")
    credentials = None
    if os.environ.get("BOOTSTRAP_GCE_CREDENTIALS") == "anonymous":  # local stand-ins of the API only
        from google.auth.credentials import AnonymousCredentials

        credentials = AnonymousCredentials()
    try:
        return GceBackend(project=project, zone=values["zone"], source=values["source"] or DEFAULT_SOURCE,
                          machine_type=values["instance_type"] or DEFAULT_MACHINE_TYPE, family=values["family"],
                          subnetwork=values["subnet"], endpoint=endpoint, credentials=credentials,
                          cloud_init=values["gce_user_data"], machine_image=values["machine_image"],
                          progress=context.progress)  # fmt: skip
    except Exception as exc:  # google.auth's DefaultCredentialsError, without importing it first
        if type(exc).__name__ == "DefaultCredentialsError":
            raise UsageError(f"gce: no credentials: {exc}") from exc
        raise


CLOUD = Cloud(
    "gce", OPTIONS, build, summary="GCE images", principals=PRINCIPALS,
    principals_help="a GCE IAM member (user:, group:, serviceAccount: EMAIL, or domain:DOMAIN)",
    hint=" (--gce-user-data for cloud-init user data)",
)  # fmt: skip
