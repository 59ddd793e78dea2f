"""Find literal secrets in profiles and in rendered output.

User data and instance metadata are not secret stores: anyone on the instance can read them
from the metadata server, and so can anyone with describe rights on the instance (EC2
DescribeInstanceAttribute, GCE compute.instances.get). A secret belongs in a secret manager,
referenced by the profile and fetched at boot with the instance's own identity.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

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
    ("password in a URL", re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:[^/\s@'\"]{3,}@")),
    ("AWS secret access key", re.compile(r"(?i)aws.{0,20}secret.{0,20}['\"=:\s][A-Za-z0-9/+]{40}\b")),
]
SECRET_NAME = re.compile(r"(?i)(passw(or)?d|passwd|secret|token|api[_-]?key|private[_-]?key|credential|auth)")
# Values that name a reference, not a secret: we will resolve these at boot.
REFERENCE = re.compile(r"^(aws-ssm|aws-secretsmanager|gcp-secretmanager|env|file):", re.I)


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


def scan_text(text: str, where: str) -> list[Finding]:
    return [
        Finding("error", "secrets", where, f"looks like a literal {kind}", HINT)
        for kind, pattern in PATTERNS
        if pattern.search(text)
    ]


def _walk(data: Any, path: list[Any]) -> Iterator[tuple[list[Any], Any, Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield [*path, key], value, data
            yield from _walk(value, [*path, key])
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield [*path, index], value, data
            yield from _walk(value, [*path, index])


def scan_profile(data: Any) -> list[Finding]:
    """Scan a loaded profile's values, each finding located at its file:line:column."""
    findings: list[Finding] = []
    for path, value, parent in _walk(data, []):
        if not isinstance(value, str) or REFERENCE.match(value):
            continue
        mark = value_mark(parent, path[-1])
        where = str(mark) if mark else ".".join(map(str, path))
        label = ".".join(str(p) for p in path)
        if path[:1] == ["users"] and "ssh_authorized_keys" in path:
            continue  # public keys: meant to be shared
        found = scan_text(value, where)
        key = path[-1] if isinstance(path[-1], str) else None
        if not found and path[:1] == ["env"] and key and SECRET_NAME.search(key) and value:
            found = [Finding("error", "secrets", where, "a literal value under a secret-like name", HINT)]
        if not found and path[:1] == ["env"] and looks_random(value):
            found = [Finding("warning", "secrets", where, "looks like a random token (high entropy)", HINT)]
        findings += [Finding(f.severity, f.check, f.where, f"{label}: {f.message}", f.hint) for f in found]
    return findings
