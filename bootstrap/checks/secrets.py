"""Find literal secrets in profiles and in rendered output.

User data and instance metadata are not secret stores: anyone on the instance can read them
from the metadata server, and so can anyone with describe rights on the instance (EC2
DescribeInstanceAttribute, GCE compute.instances.get). A secret belongs in a secret manager,
referenced by the profile and fetched at boot with the instance's own identity.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from ..errors import Mark
from ..features.secrets import REFERENCE as secret_reference
from ..schema import ecma_pattern
from ..yamlload import value_mark
from . import Finding

HINT = (
    "user data is readable from inside the instance and by anyone with describe rights on it: keep the "
    "value in AWS SSM / Secrets Manager or GCP Secret Manager and reference it (a secrets: entry such as "
    "aws-ssm:/team/token), fetched at boot"
)

PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("AWS access key id", re.compile(r"\b(AKIA|ASIA|AROA|AIDA)[0-9A-Z]{16}\b")),
    ("private key block", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    ("Google service-account key", re.compile(r'"type"\s*:\s*"service_account"[\s\S]{0,4000}"private_key"')),
    ("GitHub token", re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b")),
    ("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("Stripe/OpenAI-style secret key", re.compile(r"\b(sk|rk)_(live|test)_[0-9A-Za-z]{16,}\b|\bsk-[A-Za-z0-9_-]{32,}")),
    ("JSON web token", re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")),
    # Any scheme, any case, any length of password, except a variable filled in at boot (${TOKEN}).
    ("password in a URL", re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:(?!\$\{?\w+\}?@)[^/\s@'\"]+@")),
    (
        "webhook URL",
        re.compile(
            r"(?i)https://(hooks\.slack\.com/(services|workflows|triggers)/|[a-z0-9-]+\.webhook\."
            r"office\.com/webhookb2/|discord(app)?\.com/api/webhooks/)[A-Za-z0-9/_@.-]{8,}"
        ),
    ),
    ("AWS secret access key", re.compile(r"(?i)aws.{0,20}secret.{0,20}['\"=:\s][A-Za-z0-9/+]{40}\b")),
]
# Certainly a credential, whatever its name or place: refused by validate and render too, not only check.
CERTAIN = ("private key block", "DER private key", "Google service-account key", "AWS access key pair")
SECRET_NAME = re.compile(r"(?i)(passw(or)?d|passwd|secret|token|api[_-]?key|private[_-]?key|credential|auth)")
# A value that is exactly a reference (the secrets feature's own syntax) names a secret, not one.
REFERENCE = ecma_pattern(secret_reference)
BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{60,}={0,2}")
AWS_SECRET_SHAPE = re.compile(
    r"(?<![A-Za-z0-9/+])(?=[A-Za-z0-9/+]*[a-z])(?=[A-Za-z0-9/+]*[A-Z])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
)
# OIDs of private key algorithms as they appear in DER: RSA, EC, Ed25519, X25519, DSA.
KEY_OIDS = (bytes.fromhex("2a864886f70d010101"), bytes.fromhex("2a8648ce3d0201"), bytes.fromhex("2b6570"),
            bytes.fromhex("2b656e"), bytes.fromhex("2a8648ce380401"))  # fmt: skip


@dataclass(frozen=True)
class Leak:
    kind: str
    offset: int  # where in the scanned text it starts
    literal: str  # what matched: the same literal found twice is one leak


def entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def looks_random(value: str) -> bool:
    """Long strings of key-like characters with high Shannon entropy (API keys, tokens)."""
    token = value.strip()
    if len(token) < 20 or " " in token or not re.fullmatch(r"[A-Za-z0-9+/=_.-]+", token):
        return False
    if re.fullmatch(r"[0-9a-f]+", token):  # hex: hashes and ids are common and harmless
        return len(token) >= 40 and entropy(token) > 3.7
    has_classes = sum(bool(re.search(p, token)) for p in ("[a-z]", "[A-Z]", "[0-9]")) >= 3
    return has_classes and entropy(token) > 4.0


def _der_length(data: bytes, at: int) -> tuple[int, int] | None:
    """(length, where the content starts) of the DER element whose length byte is at ``at``."""
    if at >= len(data):
        return None
    first = data[at]
    if first < 0x80:
        return first, at + 1
    count = first & 0x7F
    if not 1 <= count <= 3 or at + 1 + count > len(data):
        return None
    return int.from_bytes(data[at + 1 : at + 1 + count], "big"), at + 1 + count


def der_private_key(data: bytes) -> bool:
    """A PKCS#8, PKCS#1 (RSA) or SEC1 (EC) private key in DER: a binary key file."""
    if len(data) < 32 or data[0] != 0x30:
        return False
    outer = _der_length(data, 1)
    if outer is None or outer[1] + outer[0] > len(data) + 2:
        return False
    body = data[outer[1] :]
    if body[:3] == b"\x02\x01\x00" and body[3:4] == b"\x30":  # PKCS#8: version 0, algorithm, key
        return any(oid in body[:40] for oid in KEY_OIDS)
    if body[:3] == b"\x02\x01\x00" and body[3:4] == b"\x02":  # PKCS#1 RSA: version 0, modulus...
        return outer[0] > 100
    return body[:3] == b"\x02\x01\x01" and body[3:4] == b"\x04"  # SEC1 EC: version 1, key octets


def leaks(text: str) -> list[Leak]:
    """Every literal credential in ``text``, each match on its own (two keys are two leaks)."""
    found = [Leak(kind, m.start(), m.group()) for kind, pattern in PATTERNS for m in pattern.finditer(text)]
    for run in BASE64_RUN.finditer(text):  # binary key files travel base64-encoded
        chunk = run.group()
        try:
            data = base64.b64decode(chunk + "=" * (-len(chunk) % 4))
        except (binascii.Error, ValueError):
            continue
        if der_private_key(data):
            found.append(Leak("DER private key", run.start(), chunk[:60]))
    key_ids = [leak for leak in found if leak.kind == "AWS access key id"]
    if key_ids and (secret := AWS_SECRET_SHAPE.search(text)):
        found.append(Leak("AWS access key pair", key_ids[0].offset, key_ids[0].literal + " " + secret.group()))
    return sorted(found, key=lambda leak: leak.offset)


def certain(text: str) -> list[Leak]:
    return [leak for leak in leaks(text) if leak.kind in CERTAIN]


def scan_text(text: str, where: Callable[[int], str]) -> list[Finding]:
    """Findings for ``text``; ``where(offset)`` locates each one."""
    return [Finding("error", "secrets", where(leak.offset), f"looks like a literal {leak.kind}", HINT)
            for leak in leaks(text)]  # fmt: skip


def _walk(data: Any, path: list[Any]) -> Iterator[tuple[list[Any], Any, Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield [*path, key], value, data
            yield from _walk(value, [*path, key])
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield [*path, index], value, data
            yield from _walk(value, [*path, index])


@cache
def _source_lines(source: str) -> list[str]:
    try:
        with open(source, encoding="utf-8") as handle:
            return handle.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return []


def locate(mark: Mark, value: str, offset: int) -> Mark:
    """Where ``value[offset]`` is in the file: lines below the value's start; a block scalar
    (``|``, ``>``) starts on the line after its indicator."""
    text = _source_lines(mark.source)
    first = text[mark.line - 1] if 0 < mark.line <= len(text) else ""
    block = first[mark.column - 1 : mark.column] in ("|", ">")
    lines_in = value.count("\n", 0, offset)
    if not block and not lines_in:
        return mark
    line = mark.line + lines_in + int(block)
    content = text[line - 1] if 0 < line <= len(text) else ""
    return Mark(mark.source, line, len(content) - len(content.lstrip()) + 1)


def scan_profile(data: Any) -> list[Finding]:
    """Scan a loaded profile's values, each finding located at its own file:line:column."""
    findings: list[Finding] = []
    for path, value, parent in _walk(data, []):
        if not isinstance(value, str) or REFERENCE.search(value):
            continue
        if path[:1] == ["users"] and "ssh_authorized_keys" in path:
            continue  # public keys: meant to be shared
        mark = value_mark(parent, path[-1])
        label = ".".join(str(p) for p in path)

        def where(offset: int, mark: Mark | None = mark, value: str = value, label: str = label) -> str:
            return str(locate(mark, value, offset)) if mark else label

        found = scan_text(value, where)
        key = path[-1] if isinstance(path[-1], str) else None
        if not found and path[:1] == ["env"] and key and SECRET_NAME.search(key) and value:
            found = [Finding("error", "secrets", where(0), "a literal value under a secret-like name", HINT)]
        if not found and path[:1] == ["env"] and looks_random(value):
            found = [Finding("warning", "secrets", where(0), "looks like a random token (high entropy)", HINT)]
        findings += [Finding(f.severity, f.check, f.where, f"{label}: {f.message}", f.hint) for f in found]
    return findings
