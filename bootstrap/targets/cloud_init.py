"""``cloud-init``: multipart user data for any cloud-init cloud (OpenStack's limit is the tightest)."""

from __future__ import annotations

from . import _cloud_config
from ._record import Gzip, SizeLimit, Target
from .limits import OPENSTACK_USER_DATA

TARGET = Target(
    name="cloud-init",
    rank=10,
    carrier=_cloud_config.CARRIER,
    template="targets/cloudinit-boot.sh.j2",
    instance_id="targets/instance-id/imds.sh.j2",  # cloud-init gives it; the lookup is for its gaps, on EC2
    layer_wait="targets/layer-wait/imds.sh.j2",  # EC2's builders boot cloud-init's bytes (ec2 carries its files)
    size=SizeLimit(OPENSTACK_USER_DATA, "OpenStack user data", "warning", Gzip.ON_REQUEST, "OpenStack"),
    bake_checked=True,
    clients=("cloud-init",),
    handoff_hint="to launch: give {file} as the instance's user data (any cloud's user-data field, e.g. openstack "
    "server create --user-data {file}), or as NoCloud's seed: cloud-localds seed.iso {file}",
)
