"""GCE's local hand-offs: a metadata server stand-in (metadata.py) whose attributes are read by Google's
guest agent (`--target gce`: the startup-script, every boot) or by cloud-init's GCE datasource
(`--target gce-user-data`: the user-data attribute); the DMI says Google Compute Engine for both."""

from __future__ import annotations

import contextlib
import re
import uuid
from dataclasses import replace
from typing import Any, ClassVar

from ...localvm.handoff import Client, HandOff
from ...localvm.image import GCE_STARTUP_UNIT
from ...localvm.machine import GuestSetup
from .metadata import GceMetadata

AGENT_BANNER = re.compile(r"Starting startup scripts \(version ([^)]*)\)")


class GceHandOff(HandOff):
    """The one attribute ``KEY`` holds the user data; ``BY_CLOUD_INIT``: its client is cloud-init."""

    KEY: ClassVar[str]
    BY_CLOUD_INIT: ClassVar[bool]

    def new_instance_id(self) -> str:
        return str(uuid.uuid4().int % 10**19)

    def start(self, stack: contextlib.ExitStack) -> None:
        self.server = stack.enter_context(GceMetadata({self.KEY: self.data.decode()}, self.instance_id))

    def setup(self, setup: GuestSetup, first: bool) -> GuestSetup:
        assert self.server is not None, "started first: the guest reaches the stand-in's port"
        wants = () if self.BY_CLOUD_INIT else (f"systemd.wants={GCE_STARTUP_UNIT}",)  # the agent, not cloud-init
        return replace(setup, metadata_port=self.server.port, smbios=(
            f"type=1,manufacturer=Google,product=Google Compute Engine,serial=GoogleCloud-{self.instance_id}",),
            kernel_args=(*setup.kernel_args, "ci.ds=GCE", *wants))  # fmt: skip

    def delivered(self, text: str) -> list[dict[str, Any]]:
        # Both the agent and cloud-init's GCE datasource read the attributes: count the client that runs them
        assert self.server is not None
        return [{**vars(served), self.KEY: self.digest()} for served in self.server.fetched("/instance/attributes")
                if served.user_agent.startswith("Cloud-Init") is self.BY_CLOUD_INIT]  # fmt: skip


class StartupScript(GceHandOff):
    CLIENT = Client("gce", "gce", "Google's guest agent (google_metadata_script_runner), from a metadata server "
                    "stand-in, every boot")  # fmt: skip
    EXPECTED = "google_metadata_script_runner"
    PATTERN = AGENT_BANNER
    LOG_HINT = "; its log: journalctl -u google-startup-scripts in a kept VM (--keep-vm)"
    KEY, BY_CLOUD_INIT = "startup-script", False

    def client(self, text: str) -> str:
        versions = sorted({m.group(1) for m in AGENT_BANNER.finditer(text)})
        return f"google_metadata_script_runner {', '.join(versions)}" if versions else ""


class UserData(GceHandOff):
    CLIENT = Client("gce-user-data", "cloud-init", "cloud-init's GCE datasource, the user-data attribute from a "
                    "metadata server stand-in (the DMI says Google Compute Engine)")  # fmt: skip
    EXPECTED = "DataSourceGCE"
    KEY, BY_CLOUD_INIT = "user-data", True


HANDOFFS = (StartupScript, UserData)
