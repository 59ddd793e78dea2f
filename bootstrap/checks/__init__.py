"""Checks on rendered output. Each returns findings; none prints."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    severity: str  # "error" fails `bootstrap check`; "warning" and "info" do not
    check: str  # which check: cloud-init-schema, shellcheck, bash-syntax, mime, size, secrets
    where: str  # profile:line:col, or target/part/file
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.where}: {self.severity}: [{self.check}] {self.message}"
        return text + (f"\n  hint: {self.hint}" if self.hint else "")
