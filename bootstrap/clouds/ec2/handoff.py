"""EC2's local hand-off (`bootstrap test --target ec2`): the user data from an IMDSv2 stand-in
(metadata.py), read by cloud-init's Ec2 datasource, which trusts the DMI that says EC2."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import replace
from typing import Any

from ...localvm.handoff import Client, HandOff
from ...localvm.machine import GuestSetup
from .metadata import Ec2Metadata


class Ec2HandOff(HandOff):
    CLIENT = Client("ec2", "ec2", "cloud-init's Ec2 datasource, from an IMDSv2 stand-in (the DMI says EC2)")
    EXPECTED = "DataSourceEc2"

    def new_instance_id(self) -> str:
        return f"i-0{uuid.uuid4().hex[:16]}"

    def start(self, stack: contextlib.ExitStack) -> None:
        self.server = stack.enter_context(Ec2Metadata(self.data, self.instance_id))

    def setup(self, setup: GuestSetup, first: bool) -> GuestSetup:
        assert self.server is not None, "started first: the guest reaches the stand-in's port"
        serial = f"ec2{uuid.UUID(int=hash(self.instance_id) % 2**128).hex[3:]}"  # cloud-init: uuid == serial
        uid = f"{serial[:8]}-{serial[8:12]}-{serial[12:16]}-{serial[16:20]}-{serial[20:32]}"
        return replace(setup, metadata_port=self.server.port, smbios=(
            f"type=1,manufacturer=Amazon EC2,product=t3.medium,uuid={uid},serial={uid}",),
            kernel_args=(*setup.kernel_args, "ci.ds=Ec2"))  # fmt: skip

    def delivered(self, text: str) -> list[dict[str, Any]]:
        assert self.server is not None
        return [vars(served) for served in self.server.fetched("/user-data")]


HANDOFFS = (Ec2HandOff,)
