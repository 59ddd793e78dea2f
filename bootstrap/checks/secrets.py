"""Find literal secrets in profiles and in rendered output.

User data and instance metadata are not secret stores: anyone on the instance can read them
from the metadata server, and so can anyone with describe rights on the instance (EC2
DescribeInstanceAttribute, GCE compute.instances.get). A secret belongs in a secret manager,
referenced by the profile and fetched at boot with the instance's own identity.

Two layers, one entry point (:func:`leaks`):

* Our own structural detectors, here and dependency-free: what is a credential whatever its name
  or place (private keys as PEM, DER or PKCS#12, also wrapped in base64; service-account keys;
  AWS key pairs). :func:`certain` runs them alone: the planner refuses what they find, so
  validate and render stop it on every build, and they never load the detector library.
* detect-secrets' provider detectors (``secret_library``), in ``check`` only, loaded lazily: a
  line reaches them only when it looks like it may hold a token (:func:`suspicious`), so a check
  of a clean profile does not pay for the import either.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from ..errors import Mark, Problem
from ..features.secrets import REFERENCE as secret_reference
from ..schema import ecma_pattern
from ..yamlload import value_mark
from . import Finding

HINT = (
    "user data is readable from inside the instance and by anyone with describe rights on it: keep the "
    "value in AWS SSM / Secrets Manager or GCP Secret Manager and reference it (a secrets: entry such as "
    "aws-ssm:/team/token), fetched at boot"
)

# Ours: the shapes that need no provider's list, and the AWS key id the key-pair rule needs. Provider
# tokens (GitHub, GitLab, Slack, PyPI, npm, Azure, JWTs...) are the library's, with the few families it
# lacks added in its own plugin form (secret_library.py).
PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("AWS access key id", re.compile(r"\b(AKIA|ASIA|AROA|AIDA)[0-9A-Z]{16}\b")),
    (
        "private key block",
        re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
                   r"|---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----|PuTTY-User-Key-File-\d+:"),
    ),
    (  # through its private_key's value, so that the PEM inside is the same leak
        "Google service-account key",
        re.compile(r'"type"\s*:\s*"service_account"[\s\S]{0,4000}"private_key"(?:\s*:\s*"[^"]*")?'
                   r'|"private_key"\s*:\s*"[^"]*"[\s\S]{0,4000}"type"\s*:\s*"service_account"'),
    ),
    # The library's AWS rule wants the value quoted; a credentials file (`aws_secret_access_key = ...`) is not.
    ("AWS secret access key", re.compile(r"(?i)aws.{0,20}secret.{0,20}['\"=:\s][A-Za-z0-9/+]{40}\b")),
]
PKCS12_KEY = "PKCS#12 bundle holding a private key"
# Certainly a credential, whatever its name or place: refused by validate and render too, not only check.
CERTAIN = ("private key block", "DER private key", PKCS12_KEY, "Google service-account key", "AWS access key pair")
WRAPPED = " (base64-encoded)"
SECRET_NAME = r"(?i)(passw(or)?d|passwd|secret|token|api[_-]?key|private[_-]?key|credential|auth)"
# A value that is exactly a reference (the secrets feature's own syntax) names a secret, not one.
REFERENCE = ecma_pattern(secret_reference)
# Base64 as people paste it: one line, or wrapped (PEM bodies at 64 columns, `base64` at 76), indented
# in a YAML block; a short last line may close it. Each line's characters are a run of their own, so
# matching stays linear.
BASE64_BLOCK = re.compile(
    r"[A-Za-z0-9+/]{16,}(?:[ \t]*\r?\n[ \t]*[A-Za-z0-9+/]{16,})*"
    r"(?:[ \t]*\r?\n[ \t]*[A-Za-z0-9+/]{1,15}(?![A-Za-z0-9+/]))?={0,2}"
)
MIN_BASE64 = 60  # shorter runs are ids and hashes; the smallest key (Ed25519 PKCS#8) is 64 characters
BIG_BLOB = 1024  # encoded binary this long is a file's bytes, not a token: the library sees its strings
MAX_DEPTH = 2  # base64 inside base64 (a Kubernetes secret of a key file), and no deeper
AWS_SECRET_SHAPE = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
# OIDs of private key algorithms as they appear in DER: RSA, EC, Ed25519, X25519, DSA.
KEY_OIDS = (bytes.fromhex("2a864886f70d010101"), bytes.fromhex("2a8648ce3d0201"), bytes.fromhex("2b6570"),
            bytes.fromhex("2b656e"), bytes.fromhex("2a8648ce380401"))  # fmt: skip
# PKCS#12: the authSafe's content type (PKCS#7 data or signedData), and the bag types that hold a key.
# A key's bag sits outside the encrypted part (as openssl, Windows and keytool write it), so a bundle
# with a key shows one; a bundle without (a truststore, or all of it encrypted) cannot be told apart.
PKCS7_CONTENT = (bytes.fromhex("2a864886f70d010701"), bytes.fromhex("2a864886f70d010702"))
KEY_BAGS = (bytes.fromhex("2a864886f70d010c0a0101"), bytes.fromhex("2a864886f70d010c0a0102"))

# The cheap pre-filter in front of the library. A random token is, nearly always, a run of 16+ letters
# and digits that is not a hash (hex) nor part of an SSH public key. The marks below are the shapes of
# the rules (the library's and ours) whose tokens need not hold one: split by - _ . / +, short, hex, or
# bound to a keyword; literal ones first, as they cost least. tests/test_secret_scan.py generates tokens
# from every rule and fails when one gets past (after a library upgrade, say): add its mark here then.
# Patterns used by check alone stay strings, compiled (and cached by re) on first use: render and
# validate do not pay for them.
TOKEN_RUN = r"[A-Za-z0-9]{16,}"
HEX = r"[0-9a-f]+|[0-9A-F]+"
# Words are matched on the lower-cased text (their rules ignore case), prefixes as written.
MARK_WORDS = ("xox", "_authtoken", "private key", "putty-user-key", "softlayer", "cloudant", "webhook", "hooks.slack",
              "accountkey=")  # fmt: skip
MARK_PREFIXES = ("GR1348941", "eyJ", "pypi-", "SG.", "sq0csp-", "AIza", "github_pat_", "ghp_", "gho_", "ghu_", "ghs_",
                 "ghr_", "hf_", "api_org_", "ATBB", "ATATT3", "ATCTT3", "npm_", "k_live_", "k_test_")  # fmt: skip
MARK_SHAPES = r"gl[a-z]{2,5}-|\bsk-|(?:AC|SK)[a-z0-9]{32}|A(?:KC|P[0-9A-F])[A-Za-z0-9]{8}|\d{8,10}:|-us\d"
DISCORD = r"[\w-]{23}\.[\w-]{6}\.[\w-]{27}"
AWS_QUOTED = r"(?i:aws).{0,40}?[\"'][A-Za-z0-9/+]{40}[\"']"  # the library's AWS secret rule
URL_USER = r"://[^\s/@]*@"  # credentials in a URL: userinfo holds neither a space nor a slash
KEYWORDS = ("key", "pw", "pass", "token")
ASSIGNED = r"(?i:key|pwd|pw|pass|password|token)[\"'\]]{0,2}(?: *(?:=>|:=|::|=|:) *| +)[\"']?[A-Za-z0-9_-]{20}"
SSH_PUBLIC_KEY = r"\b(?:ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-nistp\d+|sk-[a-z0-9-]+@openssh\.com) AAAA[A-Za-z0-9+/]+=*"
WINDOW, OVERLAP = 4096, 512  # long lines reach the library in windows: its rules are not all linear


@dataclass(frozen=True)
class Leak:
    kind: str
    offset: int  # where in the scanned text it starts
    literal: str  # what matched: the same literal found twice is one leak


def is_certain(kind: str) -> bool:
    return kind.removesuffix(WRAPPED) in CERTAIN


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


def pkcs12_bundle(data: bytes) -> str | None:
    """The kind of a PKCS#12 file (.p12, .pfx): PFX ::= SEQUENCE { version 3, authSafe ContentInfo, ... }."""
    if len(data) < 32 or data[0] != 0x30:
        return None
    outer = (0, 2) if data[1] == 0x80 else _der_length(data, 1)  # BER's indefinite length, as old Java wrote
    if outer is None or data[outer[1] : outer[1] + 4] != b"\x02\x01\x03\x30":
        return None
    if not any(oid in data[outer[1] : outer[1] + 40] for oid in PKCS7_CONTENT):
        return None
    return PKCS12_KEY if any(bag in data for bag in KEY_BAGS) else "PKCS#12 key bundle"


def _decoded_text(data: bytes) -> tuple[str, bool]:
    """(text to scan, whether ``data`` is binary): a text file, even one with a stray bad byte (a
    Latin-1 config), reads as text; a binary file contributes its printable strings, as `strings`."""
    text = data.decode("utf-8", "replace")
    odd = sum(1 for ch in text if ch == "\ufffd" or (ch < " " and ch not in "\t\n\r"))
    if odd <= len(text) // 20:
        return text, False
    return "\n".join(run.decode("ascii") for run in re.findall(rb"[\x20-\x7e]{16,}", data)), True


def _base64_blocks(text: str) -> Iterator[tuple[int, int, bytes]]:
    """(start, end, decoded bytes) of each base64 block long enough to hold a key."""
    for block in BASE64_BLOCK.finditer(text):
        chunk = re.sub(r"\s+", "", block.group()).rstrip("=")
        if len(chunk) < MIN_BASE64:
            continue
        chunk = chunk[: len(chunk) - len(chunk) % 4]  # a broken tail does not hide the head
        try:
            yield block.start(), block.end(), base64.b64decode(chunk)
        except (binascii.Error, ValueError):
            continue


def _structural(text: str, library: bool, depth: int = 0, binary: bool = False) -> list[Leak]:
    found = [Leak(kind, m.start(), m.group()) for kind, pattern in PATTERNS for m in pattern.finditer(text)]
    if binary:  # a PEM header in a program's strings is a constant unless a key's body follows it
        found = [leak for leak in found if leak.kind != "private key block" or re.match(
            r"(?:[^\n]*\n){0,4}?[A-Za-z0-9+/]{40}", text[leak.offset + len(leak.literal) :][:600])]  # fmt: skip
    key_ids = [leak for leak in found if leak.kind == "AWS access key id"]
    if key_ids:
        for shape in AWS_SECRET_SHAPE.finditer(text):
            secret = shape.group()
            if re.search("[a-z]", secret) and re.search("[A-Z]", secret):
                found.append(Leak("AWS access key pair", key_ids[0].offset, key_ids[0].literal + " " + secret))
                break
    # A PEM block's body is the key it already is: not decoded again (a DER key of its own).
    bodies = [(leak.offset, _pem_end(text, leak.offset)) for leak in found if leak.kind == "private key block"]
    wrapped: list[Leak] = []
    masked = text
    for start, end, data in _base64_blocks(text):
        if any(a <= start < b for a, b in bodies):
            continue
        head = re.sub(r"\s+", "", text[start:end])[:60]
        kind = "DER private key" if der_private_key(data) else pkcs12_bundle(data)
        if kind:
            found.append(Leak(kind, start, head))
            inner_text, inner_binary = "", True  # a key file's bytes: nothing more to read in them
        elif depth < MAX_DEPTH:
            inner_text, inner_binary = _decoded_text(data)
        else:
            continue
        if inner_text:  # already one leak per credential inside: each keeps its own, at the block's start
            inner = _structural(inner_text, library, depth + 1, inner_binary)
            wrapped += [Leak(leak.kind if leak.kind.endswith(WRAPPED) else leak.kind + WRAPPED, start, leak.literal)
                        for leak in inner]  # fmt: skip
        if inner_binary and end - start >= BIG_BLOB:  # a file's bytes: its strings were scanned above
            masked = masked[:start] + " " * (end - start) + masked[end:]
    if library:
        found += _library(masked)
    return sorted(_distinct(found) + wrapped, key=lambda leak: leak.offset)


def _pem_end(text: str, start: int) -> int:
    end = text.find("-----END", start, start + 65536)
    return len(text) if end < 0 else end


def _distinct(found: Iterable[Leak]) -> list[Leak]:
    """One leak per credential: one that lies within another already kept (two detectors on one
    token, the PEM inside a service-account key) is the same leak, reported once (ours first)."""
    kept: list[Leak] = []
    for leak in sorted(found, key=lambda leak: leak.offset):
        end = leak.offset + len(leak.literal)
        if not any(other.offset <= leak.offset and end <= other.offset + len(other.literal) for other in kept[-8:]):
            kept.append(leak)
    return kept


def suspicious(line: str) -> bool:
    """Whether ``line`` may hold a token the library's rules know (see the comment at TOKEN_RUN). Every
    mark lies within one line, so a text that is not suspicious has no line that is."""
    lowered = line.lower()
    if ("@" in line and re.search(URL_USER, line)) or any(word in lowered for word in MARK_WORDS):
        return True
    if any(prefix in line for prefix in MARK_PREFIXES) or re.search(MARK_SHAPES, line):
        return True
    if ("." in line and re.search(DISCORD, line)) or ("aws" in lowered and re.search(AWS_QUOTED, line)):
        return True
    if any(word in lowered for word in KEYWORDS) and re.search(ASSIGNED, line):
        return True
    if "AAAA" in line:
        line = re.sub(SSH_PUBLIC_KEY, " ", line)
    return any(not re.fullmatch(HEX, run.group()) for run in re.finditer(TOKEN_RUN, line))


def _windows(text: str) -> Iterator[tuple[int, str]]:
    """(offset, text) of each line, long lines cut into overlapping windows, that may hold a token."""
    if not suspicious(text):
        return
    offset = 0
    for line in text.split("\n"):
        step = WINDOW - OVERLAP
        for start in range(0, max(len(line) - OVERLAP, 1), step) if len(line) > WINDOW else [0]:
            window = line[start : start + WINDOW]
            if suspicious(window):
                yield offset + start, window
        offset += len(line) + 1


def _library(text: str) -> list[Leak]:
    candidates = list(_windows(text))
    if not candidates:
        return []
    from . import secret_library  # lazily: detect-secrets (and requests) cost a render's whole start-up

    return [Leak(kind, offset + at, literal) for offset, window in candidates
            for kind, at, literal in secret_library.find(window)]  # fmt: skip


def leaks(text: str) -> list[Leak]:
    """Every literal credential in ``text``, each match on its own (two keys are two leaks); a
    password made wholly of placeholders (shell, printf, templates fill it in) is none."""
    return _structural(text, library=True)


def certain(text: str) -> list[Leak]:
    """The leaks that are credentials whatever else is true, found without the library."""
    return [leak for leak in _structural(text, library=False) if is_certain(leak.kind)]


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


def _literals(data: Any) -> Iterator[tuple[list[Any], str, Mark | None]]:
    """(path, value, mark) of each string a profile could carry into user data as a literal."""
    for path, value, parent in _walk(data, []):
        if not isinstance(value, str) or REFERENCE.search(value):
            continue
        if path[:1] == ["users"] and "ssh_authorized_keys" in path:
            continue  # public keys: meant to be shared
        yield path, value, value_mark(parent, path[-1])


def _environment(path: list[Any]) -> bool:
    """A variable's value: env, a service's environment, a conda environment's variables."""
    if len(path) == 2:
        return path[0] == "env"
    if len(path) == 5:
        return path[:2] == ["services", "units"] and path[3] == "environment"
    return len(path) == 6 and path[:2] == ["conda", "environments"] and path[3:5] == ["spec", "variables"]


@cache
def _source_lines(source: str) -> list[str]:
    try:
        with open(source, encoding="utf-8") as handle:
            return handle.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return []


def locate(mark: Mark, value: str, offset: int, literal: str = "") -> Mark:
    """Where ``value[offset]`` is in the file: lines below the value's start; a block scalar
    (``|``, ``>``, after any anchor or tag) starts on the line after its indicator. Where the line so
    counted does not hold ``literal`` (a quoted scalar's escaped newlines are no lines of the file),
    the first line from the value's start that holds it."""
    text = _source_lines(mark.source)
    first = text[mark.line - 1] if 0 < mark.line <= len(text) else ""
    indicator = re.sub(r"^(?:[&!]\S*\s+)*", "", first[mark.column - 1 :])  # &anchor !tag |
    block = indicator[:1] in ("|", ">")
    lines_in = value.count("\n", 0, offset)
    if not block and not lines_in:
        return mark
    line = mark.line + lines_in + int(block)
    content = text[line - 1] if 0 < line <= len(text) else ""
    if literal and literal not in content:
        probe = literal.split("\n")[0][:40]
        line = next((n for n in range(mark.line, min(len(text), mark.line + 2000) + 1) if probe in text[n - 1]),
                    mark.line)  # fmt: skip
        content = text[line - 1] if 0 < line <= len(text) else ""
    return Mark(mark.source, line, len(content) - len(content.lstrip()) + 1)


PRAGMA = "pragma"  # every form of the library's inline allowlist comment holds it: a cheap look first


def allowlisted(lines: list[str], number: int, filename: str) -> bool:
    """Whether line ``number`` of ``lines`` says ``# pragma: allowlist secret`` (detect-secrets' inline
    allowlist, read by the library; on the line above: ``# pragma: allowlist nextline secret``). A
    certain credential is never allowlisted: validate and render refuse it whatever a comment says."""
    nearby = lines[max(number - 2, 0) : number]
    if not any(PRAGMA in line for line in nearby):
        return False
    from . import secret_library

    return secret_library.allowlisted(lines, number, filename)


def _allowlisted_at(mark: Mark | None, value: str, offset: int, literal: str = "") -> bool:
    """The profile's line that holds ``value[offset]`` allowlists it: a YAML comment there (``url: ...  #
    pragma: allowlist secret``), or, in a block scalar, the same comment in the text (a shell comment).
    Only a line that holds the literal itself: a comment elsewhere (another key's line that a miscount
    would take for it) silences nothing."""
    lines = value.split("\n")
    number = value.count("\n", 0, offset) + 1
    probe = literal.split("\n")[0][:40]
    if (not probe or probe in lines[number - 1]) and allowlisted(lines, number, "value"):
        return True
    if mark is None:
        return False
    at = locate(mark, value, offset, literal).line
    source = _source_lines(mark.source)
    if probe and not (0 < at <= len(source) and probe in source[at - 1]):
        return False
    return allowlisted(source, at, "profile.yaml")  # YAML's #


def _profile_findings(data: Any) -> tuple[list[Finding], set[str]]:
    findings: list[Finding] = []
    reported: set[str] = set()  # the literals reported (or allowlisted) at a profile line
    for path, value, mark in _literals(data):
        label = ".".join(str(p) for p in path)

        def where(offset: int, literal: str = "", mark: Mark | None = mark, value: str = value,
                  label: str = label) -> str:  # fmt: skip
            return str(locate(mark, value, offset, literal)) if mark else label

        def kept(offset: int, kind: str = "", literal: str = "", mark: Mark | None = mark, value: str = value) -> bool:
            return is_certain(kind) or not _allowlisted_at(mark, value, offset, literal)

        found_leaks = leaks(value)
        reported |= {leak.literal for leak in found_leaks}
        found = [Finding("error", "secrets", where(leak.offset, leak.literal), f"looks like a literal {leak.kind}",
                         HINT) for leak in found_leaks if kept(leak.offset, leak.kind, leak.literal)]  # fmt: skip
        key = path[-1] if isinstance(path[-1], str) else None
        if not found_leaks and _environment(path) and key and re.search(SECRET_NAME, key) and value and kept(0):
            found = [Finding("error", "secrets", where(0), "a literal value under a secret-like name", HINT)]
        if not found_leaks and not found and _environment(path) and looks_random(value) and kept(0):
            found = [Finding("warning", "secrets", where(0), "looks like a random token (high entropy)", HINT)]
        findings += [Finding(f.severity, f.check, f.where, f"{label}: {f.message}", f.hint) for f in found]
    return findings, reported


def scan_profile(data: Any) -> list[Finding]:
    """Scan a loaded profile's values, each finding located at its own file:line:column."""
    return _profile_findings(data)[0]


def scan_plan(data: Any, steps: Iterable[Any]) -> list[Finding]:
    """The profile's values, then what its steps embed from elsewhere (``source:`` files, conda
    files): a literal already reported at its profile line is not reported again from a step."""
    findings, reported = _profile_findings(data)
    for step in steps:
        shown = f"{step.origin} (step {step.id}" if step.origin else f"step {step.id}"
        lines: list[str] = []
        for leak in leaks(step.script):
            if leak.literal in reported:
                continue
            reported.add(leak.literal)
            lines = lines or step.script.split("\n")
            if not is_certain(leak.kind) and allowlisted(lines, step.script.count("\n", 0, leak.offset) + 1, "step"):
                continue  # the embedded file's own line says so
            line = step.script.count("\n", 0, leak.offset) + 1
            findings.append(Finding("error", "secrets", f"{shown}, its line {line})",
                                    f"looks like a literal {leak.kind}", HINT))  # fmt: skip
    return findings


def refusals(data: Any, steps: Iterable[Any]) -> list[Problem]:
    """A problem for each certain credential, at the profile line that holds it, or at the step
    that embeds it from a file."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for path, value, mark in _literals(data):
        label = ".".join(str(p) for p in path)
        for leak in certain(value):
            seen.add(leak.literal)
            problems.append(Problem(f"{label} would carry a literal {leak.kind} into user data",
                                    locate(mark, value, leak.offset) if mark else None, HINT))  # fmt: skip
    for step in steps:
        for leak in certain(step.script):
            if leak.literal not in seen:
                seen.add(leak.literal)
                problems.append(Problem(f"step {step.id} would carry a literal {leak.kind} into user data",
                                        step.origin, HINT))  # fmt: skip
    return problems
