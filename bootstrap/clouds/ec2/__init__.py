"""EC2: AMIs baked with boto3 (imported by backend.py only). Its options, principals and the backend's
construction; the names it gives are in vocabulary.py, its export fragments in exports.py."""

from __future__ import annotations

from typing import Any

from ...errors import UsageError
from .. import BUILDS, LOOKS, Cloud, Context, Option, Values, building_options

_PARTITION = r"arn:aws(?:-cn|-us-gov)?:organizations::[0-9]{12}:"
PRINCIPALS = {  # kind -> pattern: what `image.share` and --share take for EC2
    "account": r"[0-9]{12}",
    "organization": _PARTITION + r"organization/o-[a-z0-9]{10,32}",
    "ou": _PARTITION + r"ou/o-[a-z0-9]{10,32}/ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}",
}


def _region_help(command: str) -> str:
    looks = "to look in" if command in LOOKS else "to build in"
    copies = "; without it, also every region an image was copied to" if command == "images" else ""
    return f"the region {looks} (default: the AWS configuration's){copies}"


OPTIONS = (
    Option(("--region",), _region_help),
    *building_options(
        Option(("--security-group",), "security group id (repeatable)", dest="security_groups",
               arguments={"action": "append", "default": [], "metavar": "ID"}),
        Option(("--instance-profile",), "IAM instance profile name for the builder"),
        Option(("--source",), "an AMI id or ssm:/PARAMETER (e.g. ssm:/aws/service/debian/release/12/latest/amd64)"),
        Option(("--instance-type",), "builder type, default t3.small"),
        Option(("--subnet",), "subnet id"),
    ),
    Option(("--copy-to",), "also copy the image to this region (repeatable)", BUILDS,
           arguments={"action": "append", "default": [], "metavar": "REGION"},
           refusal=" (AMIs are regional): -b {backend} makes no copies between regions"),
    Option(("--endpoint-url",), "another API endpoint (private clouds, tests; AWS_ENDPOINT_URL too)"),
)  # fmt: skip


def build(values: Values, context: Context) -> Any:
    try:
        import boto3
    except ImportError as exc:
        raise UsageError("the ec2 backend needs boto3: pip install 'bootstrap-profiles[aws]'") from exc
    from .backend import Ec2Backend
    from .vocabulary import DEFAULT_INSTANCE_TYPE

    region = values["region"]
    session = boto3.Session(region_name=region) if region else boto3.Session()
    if not session.region_name:
        raise UsageError("ec2: no region: pass --region or configure one (AWS_DEFAULT_REGION, ~/.aws/config)")
    if not values["source"] and context.command in BUILDS:  # reap and images look at tags, not at the source
        raise UsageError("ec2: pass --source: an AMI id, or ssm:/NAME of an SSM parameter holding one")
    return Ec2Backend(region=session.region_name, source=values["source"] or "",
                      instance_type=values["instance_type"] or DEFAULT_INSTANCE_TYPE, subnet=values["subnet"],
                      security_groups=tuple(values["security_groups"]), instance_profile=values["instance_profile"],
                      regions=tuple(values["copy_to"]), endpoint_url=values["endpoint_url"], session=session,
                      progress=context.progress, follow_copies=context.command == "images" and not region)  # fmt: skip


CLOUD = Cloud(
    "ec2", OPTIONS, build, summary="EC2 AMIs", principals=PRINCIPALS,
    principals_help="an EC2 account id (12 digits), an organization ARN (arn:aws:organizations::ACCOUNT:"
    "organization/o-...), an OU ARN (...:ou/o-.../ou-...)",
)  # fmt: skip
