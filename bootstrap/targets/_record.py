"""What a target is: its record, its size limit, its variants, and what rendering and reading give."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from ..errors import RenderError
from .limits import describe_sizes, gzip_bytes

if TYPE_CHECKING:
    from ..checks import Finding
    from ..plan import Plan
    from .bundle import MachineFile


class Variant(Enum):
    """Which run of the plan the bytes start."""

    USER_DATA = "user-data"  # an instance's: every step, on every boot
    BAKE = "bake"  # an image builder's: image-scope steps, then seal the disk and power off
    EXTERNAL_BAKE = "external-bake"  # an outside image builder's (Packer): image-scope steps only

    @property
    def bakes(self) -> bool:
        return self is not Variant.USER_DATA


class Gzip(Enum):
    NO = "no"
    ON_REQUEST = "on request"
    WHEN_OVER = "when over the limit"  # and on request


@dataclass(frozen=True)
class SizeLimit:
    """What a cloud allows a target's bytes, used alike by rendering (its refusal) and `check` (its budget)."""

    limit: int  # bytes the cloud counts (0: no cloud carries it)
    name: str  # of the limit, in `check`'s words
    severity: str  # of being over: "error" where the cloud refuses (rendering refuses too), else "warning"
    gzip: Gzip
    cloud: str = ""  # whose limit, in the note said when the bytes were gzipped to fit
    refusal: str = ""  # said when rendering refuses: "{sizes}" is the bytes' sizes

    def over(self, size: int) -> bool:
        return bool(self.limit) and size > self.limit

    def sent(self, raw: bytes, gzip: bool = False) -> bytes:
        """What goes to the cloud: the raw bytes, or gzipped where asked or (by policy) where over."""
        wanted = gzip or (self.gzip is Gzip.WHEN_OVER and self.over(len(raw)))
        return gzip_bytes(raw) if wanted and self.gzip is not Gzip.NO else raw

    def fit(self, target: str, raw: bytes, gzip: bool = False) -> Artifact:
        """The artifact as sent, or a RenderError where the cloud would refuse it."""
        sent = self.sent(raw, gzip)
        if self.severity == "error" and self.over(len(sent)):
            raise RenderError(self.refusal.format(sizes=describe_sizes(raw)))
        if sent is raw:
            return Artifact(target, raw)
        if not gzip:
            return Artifact(target, sent, True, notes=[f"gzipped: {len(raw):,} bytes raw is over {self.cloud}'s "
                                                       f"{self.limit:,}"])  # fmt: skip
        return Artifact(target, sent, True, notes=["gzipped on request"] if self.gzip is Gzip.WHEN_OVER else [])


@dataclass
class Artifact:
    target: str
    data: bytes
    gzipped: bool = False
    variant: Variant = Variant.USER_DATA
    notes: list[str] = field(default_factory=list)

    @property
    def is_text(self) -> bool:
        return not self.gzipped

    def base64(self) -> bytes:
        return base64.b64encode(self.data)


@dataclass
class Carried:
    """What a target's bytes carry, read as the machine would read them (see Carrier.read)."""

    files: dict[str, MachineFile]  # the machine files they install, by path
    scripts: dict[str, str]  # the shell they run themselves, by part name (heredoc bodies blanked)
    configs: dict[str, str]  # the #cloud-config parts, by part name
    findings: list[Finding]  # what is wrong with their structure (MIME)


class Carrier(Protocol):
    """How machine files travel in a target's bytes: written out, and read back."""

    def carry(self, plan: Plan, target: Target, variant: Variant, files: list[MachineFile] | None) -> bytes: ...

    def read(self, data: bytes, where: str) -> Carried: ...


@dataclass(frozen=True)
class Target:
    """Everything the rest of bootstrap knows about a target: each ``targets/<name>.py`` defines one as
    ``TARGET``; checks, sizes, diff, the CLI and the golden tests read the record."""

    name: str
    rank: int  # where it is listed (the CLI's choices, `check`'s order)
    carrier: Carrier
    template: str  # its own: the whole script (heredoc carriers), or the per-boot part (cloud-config)
    instance_id: str  # the runner's template fragment that asks this target's cloud for the instance id
    size: SizeLimit
    # a builder runner's wait at a layer point, for its cloud's host word ("": none, it goes on at once)
    layer_wait: str = ""
    files_of: str = ""  # the target whose machine files it carries ("": its own; ec2 carries cloud-init's)
    bake_checked: bool = False  # image builders boot its bake variant: `check` checks that too
    in_diff: bool = True  # a distinct output for `diff` (ec2 is cloud-init's bytes, gzipped when large)
    clients: tuple[str, ...] = ()  # `bootstrap test --target` names it is proven under (localvm/clients.py)
    provider: str = ""  # the one cloud it runs on ("aws", "gcp"; "": any): `check` warns of another's services
    # said after `render -o`: how a person gives the file to the cloud ({file}: its path, {name}: its name)
    handoff_hint: str = ""

    def handoff_line(self, path: str) -> str:
        """The hand-off hint for a file written, its path quoted for the shell it is pasted into."""
        import os
        import shlex

        return self.handoff_hint.format(file=shlex.quote(path), name=shlex.quote(os.path.basename(path)))

    @property
    def machine(self) -> str:
        """The target whose machine files (runner included) it carries."""
        return self.files_of or self.name

    def carry(self, plan: Plan, variant: Variant = Variant.USER_DATA, files: list[MachineFile] | None = None) -> bytes:
        """Its bytes before the cloud's limit is applied (``files``: these instead of the plan's)."""
        return self.carrier.carry(plan, self, variant, files)

    def render(self, plan: Plan, variant: Variant = Variant.USER_DATA, gzip: bool = False) -> Artifact:
        artifact = self.size.fit(self.name, self.carry(plan, variant), gzip)
        artifact.variant = variant
        return artifact

    def read(self, data: bytes, where: str = "user-data") -> Carried:
        return self.carrier.read(data, where)
