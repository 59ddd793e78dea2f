"""The secret scan's gaps, closed: prefixes, URL credentials, webhooks, binary keys, every leak at its
own line, and certain credentials refused by validate and render, not only reported by check."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
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
    cases = {  # at the profile line that holds it; a file's at the item that names it
        "binary key": ("files:\n  - {path: /root/id, source: id.der}\n", "profile.yaml:3:5:"),
        "key block": ('files:\n  - {path: /root/id, content: "-----BEGIN PRIVATE KEY-----\\nMC4CAQ\\n"}\n',
                      "profile.yaml:3:31:"),
        "key pair": (f"env: {{AWS_ACCESS_KEY_ID: {KEY_A}, AWS_SECRET_ACCESS_KEY: {AWS_SECRET}}}\n", "profile.yaml:2:"),
    }
    for body, where in cases.values():
        profile = write_profile(f"name: x\n{body}")
        assert main([command, str(profile)]) == 2
        err = capsys.readouterr().err
        assert where in err and "would carry a literal" in err, err
        assert AWS_SECRET not in err


def test_an_access_key_id_alone_is_a_check_finding_not_a_refusal(write_profile, capsys) -> None:
    assert main(["render", str(write_profile(f"name: x\nenv: {{KEY_ID: {KEY_A}}}\n")), "-t", "bash"]) == 0


def test_der_keys_of_each_kind_are_recognised() -> None:
    assert secrets.der_private_key(ed25519_der())
    sec1 = bytes.fromhex("307702010104") + bytes([0x20]) + os.urandom(32) + bytes.fromhex("a00a06082a8648ce3d030107")
    assert secrets.der_private_key(bytes([0x30, len(sec1) - 2]) + sec1[2:])
    assert not secrets.der_private_key(os.urandom(200))
    assert not secrets.der_private_key(base64.b64decode("MIIBCgKCAQEA" + "A" * 20))


# Every place a literal can enter the output is scanned: one token, one key, pasted into each.
from tests.adversarial.test_secret_families import CERTAIN, LIKELY, PLACES, write  # noqa: E402


@pytest.mark.parametrize("where", PLACES)
def test_each_place_is_scanned_by_check(where: str, tmp_path: Path) -> None:
    profile, at = write(tmp_path, where, LIKELY["hugging-face"]())
    [finding] = [f for f in check_profile(str(profile), ["bash"]).findings if f.check == "secrets"]
    assert str(finding).startswith(at) and "Hugging Face token" in finding.message, str(finding)


@pytest.mark.parametrize("where", PLACES)
def test_each_place_is_refused_by_render(where: str, tmp_path: Path, capsys) -> None:
    profile, at = write(tmp_path, where, CERTAIN["base64-wrapped-pem-key"]())
    assert main(["render", str(profile), "-t", "bash"]) == 2
    err = capsys.readouterr().err
    assert (at if at.endswith(":") else at + ":") in err and "private key block (base64-encoded)" in err, err


def _imports(*args: str) -> str:
    """What `python -X importtime -m bootstrap ARGS` imported (its stderr)."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "bootstrap", *args], capture_output=True,
                            text=True, timeout=120, env=env, cwd=Path(__file__).resolve().parent.parent)  # fmt: skip
    return result.stderr


@pytest.mark.parametrize("command", [["render", "base", "-t", "ec2", "-o", os.devnull], ["validate", "base"]])
def test_render_and_validate_never_import_the_detector_library(command: list[str]) -> None:
    assert "bootstrap.planner" in _imports(*command)  # it ran
    assert "detect_secrets" not in _imports(*command)


def test_check_loads_the_library_only_when_a_line_looks_like_a_token(write_profile) -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed")
    assert "detect_secrets" not in _imports("check", "base", "-t", "bash")
    leaky = write_profile("name: x\nenv: {NOTE: " + LIKELY["gitlab"]() + "}\n")
    assert "detect_secrets" in _imports("check", str(leaky), "-t", "bash")


def _rules() -> list[tuple[str, int]]:
    from bootstrap.checks import secret_library

    return [(detector.secret_type, index) for detector in secret_library.detectors()
            for index in range(len(detector.denylist))]  # fmt: skip


@pytest.mark.parametrize(("kind", "index"), _rules())
def test_the_prefilter_passes_every_token_a_rule_finds(kind: str, index: int) -> None:
    """Sound by test, not by hope: tokens generated from each rule (the library's, after any upgrade,
    and ours) must all pass the cheap pre-filter, or the lazy load would hide them."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from bootstrap.checks import secret_library

    [detector] = [d for d in secret_library.detectors() if d.secret_type == kind]
    rule = detector.denylist[index]
    ascii_text = st.characters(codec="ascii", exclude_categories=("Cc",))

    @settings(max_examples=60, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])  # fmt: skip
    @given(st.from_regex(rule, fullmatch=True, alphabet=ascii_text))
    def passes(token: str) -> None:
        if list(detector.analyze_string(token)):
            assert secrets.suspicious(token), token
            assert secrets.suspicious(f"x = {token} # pasted"), token

    passes()


def test_a_pkcs12_bundle_is_told_from_other_der() -> None:
    pfx_head = bytes.fromhex("3082") + (600).to_bytes(2, "big") + bytes.fromhex("020103308202") + bytes(2)
    content = bytes.fromhex("06092a864886f70d010701")
    with_key = pfx_head + content + bytes(40) + bytes.fromhex("060b2a864886f70d010c0a0102") + bytes(540)
    without = pfx_head + content + bytes(593)
    assert secrets.pkcs12_bundle(with_key) == secrets.PKCS12_KEY
    assert secrets.pkcs12_bundle(without) == "PKCS#12 key bundle"
    assert secrets.pkcs12_bundle(ed25519_der()) is None and not secrets.der_private_key(with_key)


def test_a_private_key_header_in_a_programs_strings_is_not_a_key() -> None:
    """A binary that names the PEM header (libssl does) is not a key file; one with a key's body is."""
    program = b"\x7fELF\x02\x01\x01" + bytes(200) + b"-----BEGIN PRIVATE KEY-----\x00%s\x00" + bytes(400)
    assert secrets.certain(base64.b64encode(program).decode()) == []
    bundle = b"\x00" * 64 + pem_text().encode() + b"\x00" * 64
    [leak] = secrets.certain(base64.b64encode(bundle).decode())
    assert leak.kind == "private key block (base64-encoded)"


def pem_text() -> str:
    body = base64.b64encode(ed25519_der()).decode()
    return f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"


def test_a_public_ssh_key_does_not_load_the_library() -> None:
    line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHh0ZXN0a2V5Zm9yZXhhbXBsZW9ubHk alice@example"
    assert not secrets.suspicious(line) and not secrets.suspicious("sha256 " + "0a1b2c3d" * 8)


def test_a_json_web_token_passes_the_prefilter_and_is_found() -> None:
    """The one rule the generated tokens cannot reach (it wants real JSON inside): built by hand."""
    parts = [json.dumps({"alg": "HS256", "typ": "JWT"}), json.dumps({"sub": "ci", "iat": 1700000000}), "sig" * 9]
    token = ".".join(base64.urlsafe_b64encode(part.encode()).decode().rstrip("=") for part in parts)
    assert secrets.suspicious(token)
    [leak] = secrets.leaks(f"Authorization: Bearer {token}")
    assert leak.kind == "JSON Web Token" and leak.literal.startswith("eyJ")


def test_base64_inside_base64_is_read_and_located_at_the_outer_block() -> None:
    """A Kubernetes secret holding a base64'd key file, pasted whole: two layers deep."""
    twice = base64.b64encode(base64.b64encode(pem_text().encode())).decode()
    [leak] = secrets.certain(f"data: {twice}")
    assert leak.offset == len("data: ") and leak.kind == "private key block (base64-encoded)"
    token = "hf_" + "".join(chr(65 + (i * 7) % 26 + (i % 2) * 32) for i in range(34))
    npmrc = base64.b64encode(f"//npm.internal/:_authToken=x\nHF_TOKEN={token}\n".encode()).decode()
    assert {leak.kind for leak in secrets.leaks(npmrc)} == {"Hugging Face token (base64-encoded)"}
