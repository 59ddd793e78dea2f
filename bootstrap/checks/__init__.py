"""Checks on rendered output. Each returns findings; none prints."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Finding:
    severity: str  # "error" fails `bootstrap check`; "warning" and "info" do not
    check: str  # which check: cloud-init-schema, shellcheck, bash-syntax, mime, size, secrets
    where: str  # profile:line:col, or target/part/file
    message: str
    hint: str | None = None
    targets: tuple[str, ...] = ()  # the targets (and variants) it was found in, once merged

    def __str__(self) -> str:
        text = f"{self.where}: {self.severity}: [{self.check}] {self.message}"
        if self.targets:
            text += f" (in {', '.join(self.targets)})"
        return text + (f"\n  hint: {self.hint}" if self.hint else "")


def merged(findings: list[Finding]) -> list[Finding]:
    """One finding per problem: the same finding in several targets' output (``PROFILE[TARGET]...``) is
    said once, with the targets it applies to, in the order first found."""
    import re

    prefix = re.compile(r"^(?P<profile>[^\[\s]+)\[(?P<target>[^\]]+)\](?P<rest>.*)$", re.S)
    groups: dict[tuple[str, str, str, str, str | None], tuple[Finding, list[str]]] = {}
    for finding in findings:
        where, message, targets = finding.where, finding.message, list(finding.targets)
        if match := prefix.match(finding.where):
            where, targets = match["profile"] + match["rest"], [*targets, match["target"]]
        for target in targets:  # bash -n names the script, with its target
            message = message.replace(f"[{target}]:", ":")
        key = (finding.severity, finding.check, where, message, finding.hint)
        _, seen = groups.setdefault(key, (finding, []))
        seen += [target for target in targets if target not in seen]
    return [replace(first, where=key[2], message=key[3], targets=tuple(seen)) for key, (first, seen) in groups.items()]
