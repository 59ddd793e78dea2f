"""Split user data (plain, gzip, multipart MIME) into its parts, and check its structure."""

from __future__ import annotations

import email
import email.policy
import gzip
from dataclasses import dataclass

from . import Finding

# cloud-init 22.4's `devel make-mime --list-types`, with the text/ prefix it expects.
KNOWN_TYPES = {
    f"text/{t}"
    for t in ("cloud-boothook", "cloud-config", "cloud-config-archive", "cloud-config-jsonp", "jinja2",
              "part-handler", "x-include-once-url", "x-include-url", "x-shellscript", "x-shellscript-per-boot",
              "x-shellscript-per-instance", "x-shellscript-per-once")
}  # fmt: skip


@dataclass(frozen=True)
class Part:
    content_type: str
    filename: str
    text: str


def split(data: bytes, where: str = "user-data") -> tuple[list[Part], list[Finding]]:
    findings: list[Finding] = []
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            return [], [Finding("error", "mime", where, f"gzip data does not decode: {exc}")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return [], [Finding("error", "mime", where, "user data is not UTF-8 text")]
    if not text.startswith("Content-Type: multipart/"):
        kind = "text/cloud-config" if text.startswith("#cloud-config") else "text/x-shellscript"
        return [Part(kind, "user-data", text)], findings
    message = email.message_from_string(text, policy=email.policy.compat32)
    boundary = message.get_boundary()
    if not boundary or f"--{boundary}--" not in text:
        findings.append(Finding("error", "mime", where, "multipart message has no closing boundary"))
    parts = []
    for index, part in enumerate(message.walk()):
        if part.is_multipart():
            continue
        content_type = part.get_content_type()
        name = part.get_filename() or f"part-{index}"
        if content_type not in KNOWN_TYPES:
            findings.append(
                Finding(
                    "error",
                    "mime",
                    f"{where}/{name}",
                    f"content type {content_type} is unknown to cloud-init: the part would be ignored",
                )
            )
        payload = part.get_payload(decode=True)
        payload = payload if isinstance(payload, bytes) else b""
        try:
            parts.append(Part(content_type, name, payload.decode("utf-8")))
        except UnicodeDecodeError:
            findings.append(Finding("error", "mime", f"{where}/{name}", "part is not UTF-8 after decoding"))
    if not parts:
        findings.append(Finding("error", "mime", where, "multipart message has no parts"))
    return parts, findings
