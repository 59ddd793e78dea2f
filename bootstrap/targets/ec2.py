"""``ec2``: cloud-init's user data held to EC2's 16,384 raw bytes, gzipped when over."""

from __future__ import annotations

from . import _cloud_config
from ._record import Gzip, SizeLimit, Target
from .limits import EC2_USER_DATA

TARGET = Target(
    name="ec2",
    rank=20,
    carrier=_cloud_config.CARRIER,
    template="targets/cloudinit-boot.sh.j2",
    instance_id="targets/instance-id/imds.sh.j2",
    layer_wait="targets/layer-wait/imds.sh.j2",  # unused: ec2 carries cloud-init's runner
    size=SizeLimit(
        EC2_USER_DATA, "EC2 user data (raw, gzip applied when over)", "error", Gzip.WHEN_OVER, "EC2",
        refusal=f"EC2 user data would be {{sizes}}; EC2 allows {EC2_USER_DATA:,} bytes (raw, before base64), and "
        "even gzipped it does not fit. Move large files out of the profile (fetch them at boot from S3), or bake "
        "an image so instances need less user data.",
    ),
    files_of="cloud-init",  # the same bytes: one cloud-init user data for every cloud
    in_diff=False,
    clients=("ec2",),
    provider="aws",
    handoff_hint="to launch: aws ec2 run-instances --image-id AMI --instance-type TYPE --user-data fileb://{file}",
)
