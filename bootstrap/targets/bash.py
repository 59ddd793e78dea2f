"""``bash``: one self-contained script for any Debian/Ubuntu machine, run once as root by a person."""

from __future__ import annotations

from . import _heredoc
from ._record import Gzip, SizeLimit, Target

TARGET = Target(
    name="bash",
    rank=40,
    carrier=_heredoc.CARRIER,
    template="targets/bash.sh.j2",
    instance_id="targets/instance-id/imds.sh.j2",
    size=SizeLimit(0, "none", "info", Gzip.NO),
    clients=("bash",),
    handoff_hint="to run it: scp {file} HOST: && ssh HOST sudo bash {name}",
)
