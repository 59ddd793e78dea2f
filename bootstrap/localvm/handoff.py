"""What every target's local hand-off shares: the record of its client, and the base each cloud's folder
builds its own on (clouds/NAME/handoff.py: ``HANDOFFS``, a tuple of HandOff subclasses, one per target of
`bootstrap test` it proves). clients.py finds them and runs one per machine (its Handover).

A hand-off is made for the rendered bytes; ``start`` opens what the machine's life needs (a metadata
server stand-in, a by-hand disk) on a stack the Handover closes. The rest are questions asked across the
machine's boots: its seed, its QEMU setup per boot, a new instance on a relaunch, and the client the
guest's console names with what it received.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from .machine import GuestSetup
from .metadata import StandIn

# cloud-init's closing line names its datasource (and, for some, where it read it): its clients' banner
DATASOURCE = re.compile(r"Datasource (DataSource\w+)(?: \[([^\]]*)\])?")


@dataclass(frozen=True)
class Client:
    target: str  # of `bootstrap test --target`
    renders: str  # the render target whose bytes are handed over
    proves_with: str  # what reads them in the guest, in docs/targets.md's and the report's words


class HandOff:
    """One target's hand-off of ``data`` to one machine, across its boots and relaunches. The defaults are
    a cloud-init client's with nothing to start: no seed, the setup as given, cloud-init's datasource."""

    CLIENT: ClassVar[Client]
    EXPECTED: ClassVar[str]  # what client() must contain for the proof to hold
    PATTERN: ClassVar[re.Pattern[str]] = DATASOURCE  # the console line that names the client
    LOG_HINT: ClassVar[str] = "; cloud-init's log: /var/log/cloud-init.log in a kept VM (--keep-vm)"  # its log

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.server: StandIn | None = None  # a metadata server stand-in, once started
        self.instance_id = self.new_instance_id()

    def new_instance_id(self) -> str:
        """An id in the shape the cloud gives (the runner keys first-boot markers on it)."""
        return f"bootstrap-test-{uuid.uuid4().hex[:8]}"

    def start(self, stack: contextlib.ExitStack) -> None:
        """Open what the machine's life needs, to be closed with ``stack``."""

    @property
    def seed_user_data(self) -> bytes | None:
        """What the NoCloud seed carries (None: no seed at all, as with a metadata server)."""
        return None

    def setup(self, setup: GuestSetup, first: bool) -> GuestSetup:
        """The guest's setup for a boot, from the launcher's ``setup``; ``first``: the machine's very first."""
        return setup

    def relaunch(self) -> str:
        """A new instance id through the same client (its stand-in answers with it). Returns the id."""
        self.instance_id = self.new_instance_id()
        if self.server is not None:
            self.server.instance_id = self.instance_id
        return self.instance_id

    def client(self, text: str) -> str:
        """The client that ran the user data, as the console ``text`` names it ('' when it never showed)."""
        return ", ".join(sorted({f"{m.group(1)} [{m.group(2)}]" if m.group(2) else m.group(1)
                                 for m in DATASOURCE.finditer(text)}))  # fmt: skip

    def client_pattern(self) -> re.Pattern[str]:
        return self.PATTERN

    def expected_client(self) -> str:
        return self.EXPECTED

    def runs_user_data(self, first: bool) -> bool:
        """Whether the client runs the user data in this boot."""
        return True

    def delivered(self, text: str) -> list[dict[str, Any]]:
        """What the guest received, with sizes and hashes (``text``: its consoles)."""
        raise NotImplementedError

    def digest(self) -> dict[str, Any]:
        return {"size": len(self.data), "sha256": hashlib.sha256(self.data).hexdigest()}
