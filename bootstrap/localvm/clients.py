"""How a local guest receives its user data: the way each cloud hands it over, to that cloud's own client.

`bootstrap test --target T` and `bake -b local --target T` boot the same base image; what differs is
the handover: a NoCloud seed disk (cloud-init), an IMDSv2 stand-in read by cloud-init's Ec2 datasource
(the DMI says EC2, as cloud-init checks), a GCE metadata stand-in read by Google's guest agent or by
cloud-init's GCE datasource (the DMI says Google Compute Engine), or a person running the bash script
as root once (a disk the base image's unit runs it from), whose installed unit carries later boots.
The kernel command line picks cloud-init's datasource (`ci.ds=`, read by its ds-identify), as a
cloud's own image would have it configured.

Each target's hand-off lives in its cloud's folder (clouds/NAME/handoff.py, on localvm/handoff.py's
base; the seed and by-hand ones in clouds/local); this module finds them and runs one per machine.
"""

from __future__ import annotations

import contextlib
import re
from types import TracebackType
from typing import Any

from ..clouds import handoffs_of
from ..errors import BackendError
from ..targets import TEST_TARGETS
from .handoff import Client, HandOff
from .machine import GuestSetup
from .metadata import StandIn

_FOUND: list[type[HandOff]] = handoffs_of()
assert sorted(h.CLIENT.target for h in _FOUND) == sorted(TEST_TARGETS), "a client per target of `bootstrap test`"
# in the targets' order (the registry's is the clouds')
HANDOFFS = {target: next(h for h in _FOUND if h.CLIENT.target == target) for target in TEST_TARGETS}
CLIENTS: dict[str, Client] = {target: handoff.CLIENT for target, handoff in HANDOFFS.items()}

CLIENT_WAIT = 90  # seconds to wait, after a boot's result, for the console to name the client (cloud-init's
# closing line, which names its datasource, comes when its final stage ends, after our runner)


class Handover:
    """One machine's handover of ``data`` (the rendered bytes) for ``target``, across its boots and
    relaunches: its target's hand-off, and the base ``setup`` of each boot. A context manager: what the
    hand-off starts (a metadata server stand-in, a by-hand disk) lives as long as it."""

    def __init__(self, target: str, data: bytes, setup: GuestSetup) -> None:
        if target not in CLIENTS:
            raise BackendError(f"no local client for target {target!r}: {', '.join(CLIENTS)}")
        self.target, self.data, self.base_setup = target, data, setup
        self.handoff = HANDOFFS[target](data)
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Handover:
        with self._stack as stack:
            self.handoff.start(stack)
            self._stack = stack.pop_all()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:  # fmt: skip
        self._stack.close()

    @property
    def instance_id(self) -> str:
        return self.handoff.instance_id

    @property
    def server(self) -> StandIn | None:
        return self.handoff.server

    @property
    def seed_user_data(self) -> bytes | None:
        """What the NoCloud seed carries: the user data (cloud-init), nothing but an instance id (bash: a
        machine of any cloud-init cloud, launched without user data), or no seed at all (a metadata server)."""
        return self.handoff.seed_user_data

    def setup(self, first: bool) -> GuestSetup:
        """The guest's setup for a boot; ``first``: the machine's very first."""
        return self.handoff.setup(self.base_setup, first)

    def relaunch(self) -> str:
        """A new instance of the same disk, as a golden image of it would be launched: a new instance id
        through the same client. Returns the id."""
        return self.handoff.relaunch()

    def client(self, consoles: list[str]) -> str:
        """The client that ran the user data, as the guest's console names it ('' when it never showed)."""
        return self.handoff.client("\n".join(consoles))

    def runs_user_data(self, first: bool) -> bool:
        """Whether the client runs the user data in this boot (the bash script is run by hand once)."""
        return self.handoff.runs_user_data(first)

    def client_pattern(self) -> re.Pattern[str]:
        return self.handoff.client_pattern()

    def expected_client(self) -> str:
        """What ``client`` must contain for the proof to hold."""
        return self.handoff.expected_client()

    def delivered(self, consoles: list[str]) -> list[dict[str, Any]]:
        """What the guest received, with sizes and hashes: fetched from a stand-in (its log), read from
        the seed disk, or hashed by the guest itself before running it (bash)."""
        return self.handoff.delivered("\n".join(consoles))
