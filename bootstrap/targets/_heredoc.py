"""The heredoc carrier: one self-contained bash script that installs each machine file from a quoted
heredoc and starts the runner (``templates/targets/payload.sh.j2``, extended by each target's own)."""

from __future__ import annotations

import hashlib
import re
import shlex

from .. import __version__
from ..distro import all_distros
from ..plan import Plan
from ._record import Carried, Target, Variant
from .bundle import RUNNER, SEAL, MachineFile, machine_files, rendered


def delimiter(content: str) -> str:
    # Derived from the content's own hash: the content cannot contain its own hash as a line.
    return "BOOTSTRAP_EOF_" + hashlib.sha256(content.encode()).hexdigest()[:20]


def payload(plan: Plan, target: Target, variant: Variant, files: list[MachineFile] | None = None) -> str:
    entries = []
    for file in machine_files(plan, target.machine, variant) if files is None else files:
        content = file.content if file.content.endswith("\n") else file.content + "\n"
        entries.append({"path": file.path, "mode": file.mode, "content": content, "delimiter": delimiter(content)})
    return rendered(
        target.template,
        version=__version__,
        profile=plan.profile,
        target=target.name,
        plan_hash=plan.hash,
        files=entries,
        step_files=[f"{s.id}.sh" for s in plan.ordered],
        runner=RUNNER,
        seal=SEAL,
        delimiter=delimiter,
        variant=variant.value,
        distro=all_distros()[plan.distro],  # where the bash target's own unit goes
    )


# What payload.sh.j2 writes for each file: `install_file MODE PATH <<'DELIMITER'`, the content, DELIMITER.
HEREDOC = re.compile(r"^install_file (\S+) (\S+) <<'(BOOTSTRAP_EOF_[0-9a-f]+)'\n(.*?)^\3$", re.M | re.S)


def _blank_heredocs(script: str) -> str:
    """The script with each install_file heredoc's body replaced by as many empty lines and a fixed
    delimiter: the same program to bash and to shellcheck, and the same text whatever the files hold."""

    def blank(match: re.Match[str]) -> str:
        head = f"install_file {match.group(1)} {match.group(2)} <<'BOOTSTRAP_EOF'\n"
        return head + "\n" * match.group(4).count("\n") + "BOOTSTRAP_EOF"

    return HEREDOC.sub(blank, script)


class Heredocs:
    """A bash script carrying the machine files in heredocs: GCE's startup-script, and bash by hand."""

    def carry(self, plan: Plan, target: Target, variant: Variant, files: list[MachineFile] | None) -> bytes:
        return payload(plan, target, variant, files).encode()

    def read(self, data: bytes, where: str) -> Carried:
        """The files its ``install_file`` heredocs write, as bash reads them; the script itself, with
        their bodies blanked (line numbers kept): quoted heredocs are inert data, checked one by one."""
        text = data.decode()
        files = {}
        for match in HEREDOC.finditer(text):
            mode, path = shlex.split(match.group(1))[0], shlex.split(match.group(2))[0]
            files[path] = MachineFile(path, mode, match.group(4))
        return Carried(files, {"script": _blank_heredocs(text)}, {}, [])


CARRIER = Heredocs()
