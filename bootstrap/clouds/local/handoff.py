"""The hand-offs of no one cloud: a NoCloud seed disk read by cloud-init (`--target cloud-init`: any
cloud-init cloud), and a person running the bash script as root once (`--target bash`: a disk the base
image's unit runs it from), whose installed unit carries later boots."""

from __future__ import annotations

import contextlib
import re
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from ...localvm.handoff import Client, HandOff
from ...localvm.image import BY_HAND_BANNER, BY_HAND_SCRIPT, BY_HAND_SERIAL
from ...localvm.machine import GuestSetup, _run

BY_HAND = re.compile(re.escape(BY_HAND_BANNER) + r" (\S+) \((\d+) bytes, sha256 ([0-9a-f]{64})\)")


class Seed(HandOff):
    CLIENT = Client("cloud-init", "cloud-init", "cloud-init's NoCloud datasource (a seed disk)")
    EXPECTED = "DataSourceNoCloud"

    @property
    def seed_user_data(self) -> bytes | None:
        return self.data

    def delivered(self, text: str) -> list[dict[str, Any]]:
        return [{"path": "seed disk: user-data", "user_agent": "", **self.digest()}]


class ByHand(HandOff):
    CLIENT = Client("bash", "bash", "a person: root runs the script once after the machine is up; the unit it "
                    "installs carries later boots")  # fmt: skip
    EXPECTED = "by hand"
    PATTERN = BY_HAND
    LOG_HINT = "; the script's output: journalctl -u bootstrap-by-hand in a kept VM (--keep-vm)"

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.disk: Path | None = None  # the by-hand ISO, once made

    def start(self, stack: contextlib.ExitStack) -> None:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bootstrap-by-hand-")))
        (folder / BY_HAND_SCRIPT).write_bytes(self.data)
        self.disk = folder / "by-hand.iso"
        _run(["genisoimage", "-quiet", "-output", str(self.disk), "-volid", "bootstrap", "-rock",
              str(folder / BY_HAND_SCRIPT)])  # fmt: skip

    @property
    def seed_user_data(self) -> bytes | None:
        return b""  # a machine of any cloud-init cloud, launched without user data: an instance id only

    def setup(self, setup: GuestSetup, first: bool) -> GuestSetup:
        if self.disk is not None and first:  # by hand once; the installed unit from then on
            setup = replace(setup, read_only_disks={**setup.read_only_disks, BY_HAND_SERIAL: self.disk})
        return setup

    def runs_user_data(self, first: bool) -> bool:
        return first  # run by hand once

    def client(self, text: str) -> str:
        return f"root, by hand: bash {found.group(1)}" if (found := BY_HAND.search(text)) else ""

    def delivered(self, text: str) -> list[dict[str, Any]]:
        """Hashed by the guest itself before running it."""
        return [{"path": m.group(1), "user_agent": "bash (by hand)", "size": int(m.group(2)), "sha256": m.group(3)}
                for m in BY_HAND.finditer(text)]  # fmt: skip


HANDOFFS = (Seed, ByHand)
