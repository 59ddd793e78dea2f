"""How a local guest receives its user data: the way each cloud hands it over, to that cloud's own client.

`bootstrap test --target T` and `bake -b local --target T` boot the same base image; what differs is
the handover: a NoCloud seed disk (cloud-init), an IMDSv2 stand-in read by cloud-init's Ec2 datasource
(the DMI says EC2, as cloud-init checks), a GCE metadata stand-in read by Google's guest agent or by
cloud-init's GCE datasource (the DMI says Google Compute Engine), or a person running the bash script
as root once (a disk the base image's unit runs it from), whose installed unit carries later boots.
The kernel command line picks cloud-init's datasource (`ci.ds=`, read by its ds-identify), as a
cloud's own image would have it configured.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import tempfile
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any

from ..clouds.ec2.metadata import Ec2Metadata
from ..clouds.gce.metadata import GceMetadata
from ..errors import BackendError
from ..targets import TEST_TARGETS
from .image import BY_HAND_BANNER, BY_HAND_SCRIPT, BY_HAND_SERIAL, GCE_STARTUP_UNIT
from .machine import GuestSetup, _run
from .metadata import StandIn


@dataclass(frozen=True)
class Client:
    target: str  # of `bootstrap test --target`
    renders: str  # the render target whose bytes are handed over
    proves_with: str  # what reads them in the guest, in the README's and the report's words


CLIENTS = {
    c.target: c
    for c in (
        Client("cloud-init", "cloud-init", "cloud-init's NoCloud datasource (a seed disk)"),
        Client("ec2", "ec2", "cloud-init's Ec2 datasource, from an IMDSv2 stand-in (the DMI says EC2)"),
        Client("gce", "gce", "Google's guest agent (google_metadata_script_runner), from a metadata server "
               "stand-in, every boot"),
        Client("gce-user-data", "cloud-init", "cloud-init's GCE datasource, the user-data attribute from a "
               "metadata server stand-in (the DMI says Google Compute Engine)"),
        Client("bash", "bash", "a person: root runs the script once after the machine is up; the unit it "
               "installs carries later boots"),
    )
}  # fmt: skip
assert tuple(CLIENTS) == TEST_TARGETS, "a client per target of `bootstrap test`"

CLIENT_WAIT = 90  # seconds to wait, after a boot's result, for the console to name the client (cloud-init's
# closing line, which names its datasource, comes when its final stage ends, after our runner)
AGENT_BANNER = re.compile(r"Starting startup scripts \(version ([^)]*)\)")
DATASOURCE = re.compile(r"Datasource (DataSource\w+)(?: \[([^\]]*)\])?")
BY_HAND = re.compile(re.escape(BY_HAND_BANNER) + r" (\S+) \((\d+) bytes, sha256 ([0-9a-f]{64})\)")


def new_instance_id(target: str) -> str:
    """An id in the shape the cloud gives (the runner keys first-boot markers on it)."""
    if target == "ec2":
        return f"i-0{uuid.uuid4().hex[:16]}"
    if target.startswith("gce"):
        return str(uuid.uuid4().int % 10**19)
    return f"bootstrap-test-{uuid.uuid4().hex[:8]}"


class Handover:
    """One machine's handover of ``data`` (the rendered bytes) for ``target``, across its boots and
    relaunches. A context manager: a metadata server stand-in lives as long as it."""

    def __init__(self, target: str, data: bytes, setup: GuestSetup) -> None:
        if target not in CLIENTS:
            raise BackendError(f"no local client for target {target!r}: {', '.join(CLIENTS)}")
        self.target, self.data, self.base_setup = target, data, setup
        self.instance_id = new_instance_id(target)
        self.server: StandIn | None = None
        self._stack = contextlib.ExitStack()
        self._by_hand: Path | None = None

    def __enter__(self) -> Handover:
        with self._stack as stack:
            if self.target == "ec2":
                self.server = stack.enter_context(Ec2Metadata(self.data, self.instance_id))
            elif self.target == "gce":
                self.server = stack.enter_context(GceMetadata({"startup-script": self.data.decode()},
                                                              self.instance_id))  # fmt: skip
            elif self.target == "gce-user-data":
                self.server = stack.enter_context(GceMetadata({"user-data": self.data.decode()}, self.instance_id))
            elif self.target == "bash":
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bootstrap-by-hand-")))
                (folder / BY_HAND_SCRIPT).write_bytes(self.data)
                self._by_hand = folder / "by-hand.iso"
                _run(["genisoimage", "-quiet", "-output", str(self._by_hand), "-volid", "bootstrap", "-rock",
                      str(folder / BY_HAND_SCRIPT)])  # fmt: skip
            self._stack = stack.pop_all()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:  # fmt: skip
        self._stack.close()

    @property
    def seed_user_data(self) -> bytes | None:
        """What the NoCloud seed carries: the user data (cloud-init), nothing but an instance id (bash: a
        machine of any cloud-init cloud, launched without user data), or no seed at all (a metadata server)."""
        return {"cloud-init": self.data, "bash": b""}.get(self.target)

    def setup(self, first: bool) -> GuestSetup:
        """The guest's setup for a boot; ``first``: the machine's very first."""
        setup = self.base_setup
        if isinstance(self.server, Ec2Metadata):
            serial = f"ec2{uuid.UUID(int=hash(self.instance_id) % 2**128).hex[3:]}"  # cloud-init: uuid == serial
            uid = f"{serial[:8]}-{serial[8:12]}-{serial[12:16]}-{serial[16:20]}-{serial[20:32]}"
            setup = replace(setup, metadata_port=self.server.port, smbios=(
                f"type=1,manufacturer=Amazon EC2,product=t3.medium,uuid={uid},serial={uid}",),
                kernel_args=(*setup.kernel_args, "ci.ds=Ec2"))  # fmt: skip
        elif isinstance(self.server, GceMetadata):
            wants = (f"systemd.wants={GCE_STARTUP_UNIT}",) if self.target == "gce" else ()
            setup = replace(setup, metadata_port=self.server.port, smbios=(
                f"type=1,manufacturer=Google,product=Google Compute Engine,serial=GoogleCloud-{self.instance_id}",),
                kernel_args=(*setup.kernel_args, "ci.ds=GCE", *wants))  # fmt: skip
        elif self._by_hand is not None and first:  # by hand once; the installed unit from then on
            setup = replace(setup, read_only_disks={**setup.read_only_disks, BY_HAND_SERIAL: self._by_hand})
        return setup

    def relaunch(self) -> str:
        """A new instance of the same disk, as a golden image of it would be launched: a new instance id
        through the same client. Returns the id."""
        self.instance_id = new_instance_id(self.target)
        if isinstance(self.server, (Ec2Metadata, GceMetadata)):
            self.server.instance_id = self.instance_id
        return self.instance_id

    def client(self, consoles: list[str]) -> str:
        """The client that ran the user data, as the guest's console names it ('' when it never showed)."""
        text = "\n".join(consoles)
        if self.target == "gce":
            versions = sorted({m.group(1) for m in AGENT_BANNER.finditer(text)})
            return f"google_metadata_script_runner {', '.join(versions)}" if versions else ""
        if self.target == "bash":
            return f"root, by hand: bash {found.group(1)}" if (found := BY_HAND.search(text)) else ""
        sources = sorted({f"{m.group(1)} [{m.group(2)}]" if m.group(2) else m.group(1)
                          for m in DATASOURCE.finditer(text)})  # fmt: skip
        return ", ".join(sources)

    def runs_user_data(self, first: bool) -> bool:
        """Whether the client runs the user data in this boot (the bash script is run by hand once)."""
        return first or self.target != "bash"

    def client_pattern(self) -> re.Pattern[str]:
        return {"gce": AGENT_BANNER, "bash": BY_HAND}.get(self.target, DATASOURCE)

    def expected_client(self) -> str:
        """What ``client`` must contain for the proof to hold."""
        return {"cloud-init": "DataSourceNoCloud", "ec2": "DataSourceEc2", "gce": "google_metadata_script_runner",
                "gce-user-data": "DataSourceGCE", "bash": "by hand"}[self.target]  # fmt: skip

    def delivered(self, consoles: list[str]) -> list[dict[str, Any]]:
        """What the guest received, with sizes and hashes: fetched from a stand-in (its log), read from
        the seed disk, or hashed by the guest itself before running it (bash)."""
        digest = {"size": len(self.data), "sha256": hashlib.sha256(self.data).hexdigest()}
        if self.target == "cloud-init":
            return [{"path": "seed disk: user-data", "user_agent": "", **digest}]
        if self.target == "bash":
            return [{"path": m.group(1), "user_agent": "bash (by hand)", "size": int(m.group(2)),
                     "sha256": m.group(3)} for m in BY_HAND.finditer("\n".join(consoles))]  # fmt: skip
        assert self.server is not None
        if self.target == "ec2":
            return [vars(served) for served in self.server.fetched("/user-data")]
        # Both the agent and cloud-init's GCE datasource read the attributes: count the client that runs them
        key, by_cloud_init = ("startup-script", False) if self.target == "gce" else ("user-data", True)
        return [{**vars(served), key: digest} for served in self.server.fetched("/instance/attributes")
                if served.user_agent.startswith("Cloud-Init") is by_cloud_init]  # fmt: skip
