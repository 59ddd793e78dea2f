"""One error hierarchy for the whole package.

Library code raises these; only the CLI turns them into messages and exit codes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mark:
    """Where a value came from: a file (or a pseudo-source like ``--set``), 1-based line/column."""

    source: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, located as precisely as we can."""

    message: str
    mark: Mark | None = None
    hint: str | None = None

    def __str__(self) -> str:
        where = f"{self.mark}: " if self.mark else ""
        text = f"{where}error: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class BootstrapError(Exception):
    """Base of every error bootstrap raises on purpose."""


class InputError(BootstrapError):
    """Bad input (profile, override, option): the user must change something. CLI exit 2."""

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem(problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = problems
        super().__init__("\n".join(str(p) for p in problems))


class ProfileError(InputError):
    """A profile failed to load, merge or validate."""


class NotOnDistro(ProfileError):
    """A feature needs a package (or a repository) the profile's distro has no name (or way) for. CLI exit 2."""


class UsageError(InputError):
    """The command line itself is wrong."""


class ToolMissing(InputError):
    """A program a command needs is not installed (shellcheck, cloud-init): the message says how to
    install it. CLI exit 2."""

    def __init__(self, tool: str, package: str):
        super().__init__(Problem(f"{tool} is not installed", None,
                                 f"install it: sudo apt-get install -y {package} (Debian/Ubuntu)"))  # fmt: skip


class ManifestError(InputError):
    """An image's manifest (bootstrap/bake/manifest.py) that is not one: cut short, misframed, out of order.
    CLI exit 2."""


class RenderError(BootstrapError):
    """A valid profile cannot be rendered for a target (e.g. over the cloud's size limit). Exit 1."""


class TemplateError(BootstrapError):
    """A bug in one of our templates (undefined variable, unquoted value). Never the user's fault."""


class BackendError(BootstrapError):
    """A cloud or VM backend failed. CLI exit 3."""


class ReportFolderError(UsageError):
    """--report names a file, or a folder that holds something already: a boot report is never
    overwritten. Said before anything boots. CLI exit 2."""
