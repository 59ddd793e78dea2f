"""One local machine as a cloud runs it: the handover of its user data for a target (a seed disk, a
metadata stand-in, a by-hand disk; clients.py) and a QEMU machine over a base or golden image
(machine.py), made together and removed together, whatever fails between. `bootstrap test`
(proof.py) and the local bake backend (bake/local.py) both boot through it.
"""

from __future__ import annotations

from typing import Any

from .clients import CLIENT_WAIT, Handover
from .machine import BootImage, GuestSetup, Machine


class LocalVM:
    def __init__(self, base: BootImage, target: str, data: bytes, setup: GuestSetup, **machine: Any) -> None:
        """``machine``: Machine's own options (workdir, keep, memory_mb)."""
        self.handover = Handover(target, data, setup)
        self.handover.__enter__()
        try:
            self.machine = Machine(base, self.handover.seed_user_data, instance_id=self.handover.instance_id,
                                   setup=self.handover.setup(first=True), **machine)  # fmt: skip
        except BaseException:
            self.handover.__exit__(None, None, None)
            raise

    def __enter__(self) -> LocalVM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the machine and remove its files (a kept machine's disk and console stay), then end the
        handover (its metadata stand-in, its by-hand disk)."""
        try:
            self.machine.__exit__(None, None, None)
        finally:
            self.handover.__exit__(None, None, None)

    def start(self, first: bool) -> None:
        """Boot; ``first``: the machine's very first boot (the by-hand script is handed over only then)."""
        self.machine.setup = self.handover.setup(first=first)
        self.machine.start()

    def relaunch(self) -> str:
        """The same disk as a new instance, through the same client: a new instance id, returned."""
        instance_id = self.handover.relaunch()
        self.machine.relaunch(instance_id)
        return instance_id

    def names_client(self, console: str) -> bool:
        """Whether ``console`` names the client this target's user data must be run by."""
        return self.handover.expected_client() in self.handover.client([console])

    def wait_for_client(self, first: bool) -> bool:
        """After a boot's ok result, wait for the console to name the client that ran the user data
        (cloud-init's closing line, naming its datasource, comes when its final stage ends, after our
        runner's); False where this boot ran none (the bash script is run by hand once) or none showed."""
        if not self.handover.runs_user_data(first):
            return False
        return self.machine.wait_for_text(self.handover.client_pattern(), CLIENT_WAIT)
