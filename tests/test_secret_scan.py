"""The secret scan's gaps, closed: prefixes, URL credentials, webhooks, binary keys, every leak at its
own line, and certain credentials refused by validate and render, not only reported by check."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from bootstrap.checks import secrets
from bootstrap.checks.run import check_profile
from bootstrap.cli import main
from bootstrap.profile import load_profile
from bootstrap.yamlload import load_text

KEY_A, KEY_B = "AKIAIOSFODNN7EXAMPLE", "AKIAI44QH8DHBEXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def ed25519_der() -> bytes:
    """A PKCS#8 Ed25519 private key in DER, as `openssl genpkey -outform DER` writes it."""
    return bytes.fromhex("302e020100300506032b657004220420") + os.urandom(32)


def findings(text: str) -> list[secrets.Finding]:
    return secrets.scan_profile(load_text(text, "p.yaml"))


@pytest.mark.parametrize(
    "value",
    [
        f"env:{KEY_A}",  # a prefix that looks like a reference is no excuse
        f"file:{KEY_A}",
        f"aws-ssm:/x {KEY_A}",  # a reference followed by a literal
        "HTTPS://deploy:hunter2@git.internal/repo.git",  # upper-case scheme
        "https://ci:pw@registry.internal/",  # a short password
        "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
        "https://contoso.webhook.office.com/webhookb2/7a1b2c3d-aaaa@bbbb/IncomingWebhook/abc/def",
    ],
)
def test_gaps_are_closed(value: str) -> None:
    [finding] = findings(f"name: x\nenv:\n  NOTE: {value!r}\n")
    assert finding.severity == "error" and finding.where == "p.yaml:3:9"


@pytest.mark.parametrize("value", ["aws-ssm:/team/token", "https://ci:${TOKEN}@registry.internal/",
                                   "https://hooks.slack.com/"])  # fmt: skip
def test_references_and_placeholders_are_not_secrets(value: str) -> None:
    assert findings(f"name: x\nenv:\n  NOTE: {value!r}\n") == []


def test_two_leaks_of_one_kind_are_two_findings_each_at_its_line(tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(
        f"name: x\nfiles:\n  - path: /etc/keys\n    content: |\n      first {KEY_A}\n      second {KEY_B}\n"
        f"env:\n  OTHER: {KEY_B}\n"
    )
    found = secrets.scan_profile(load_profile(str(profile)).data)
    where = sorted(f.where.split(":", 1)[1] for f in found)
    assert where == ["5:7", "6:7", "8:10"], [str(f) for f in found]


def test_check_reports_a_second_leak_in_an_embedded_file(write_profile, tmp_path: Path) -> None:
    (tmp_path / "creds").write_text(f"key = {KEY_B}\n")
    profile = write_profile(f"name: x\nenv: {{ID: {KEY_A}}}\nfiles:\n  - {{path: /etc/creds, source: creds}}\n")
    report = check_profile(str(profile), ["bash"])
    leaks = [f for f in report.findings if f.check == "secrets"]
    assert len(leaks) == 2, [str(f) for f in leaks]  # not hidden behind the first of its kind
    assert any("profile.yaml:2:" in f.where for f in leaks)
    assert any("(step file-etc-creds, its line" in f.where for f in leaks)


@pytest.mark.parametrize("command", ["validate", "render"])
def test_certain_credentials_are_refused_by_validate_and_render(write_profile, tmp_path: Path, capsys,
                                                               command: str) -> None:  # fmt: skip
    (tmp_path / "id.der").write_bytes(ed25519_der())
    cases = {
        "binary key": "files:\n  - {path: /root/id, source: id.der}\n",
        "key block": 'files:\n  - {path: /root/id, content: "-----BEGIN PRIVATE KEY-----\\nMC4CAQ\\n"}\n',
        "key pair": f"env: {{AWS_ACCESS_KEY_ID: {KEY_A}, AWS_SECRET_ACCESS_KEY: {AWS_SECRET}}}\n",
    }
    for body in cases.values():
        profile = write_profile(f"name: x\n{body}")
        assert main([command, str(profile)]) == 2
        err = capsys.readouterr().err
        assert ("profile.yaml:2:" in err or "profile.yaml:3:5:" in err) and "would carry a literal" in err
        assert AWS_SECRET not in err


def test_an_access_key_id_alone_is_a_check_finding_not_a_refusal(write_profile, capsys) -> None:
    assert main(["render", str(write_profile(f"name: x\nenv: {{KEY_ID: {KEY_A}}}\n")), "-t", "bash"]) == 0


def test_der_keys_of_each_kind_are_recognised() -> None:
    assert secrets.der_private_key(ed25519_der())
    sec1 = bytes.fromhex("307702010104") + bytes([0x20]) + os.urandom(32) + bytes.fromhex("a00a06082a8648ce3d030107")
    assert secrets.der_private_key(bytes([0x30, len(sec1) - 2]) + sec1[2:])
    assert not secrets.der_private_key(os.urandom(200))
    assert not secrets.der_private_key(base64.b64decode("MIIBCgKCAQEA" + "A" * 20))
