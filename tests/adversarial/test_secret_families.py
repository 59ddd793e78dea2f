"""Attacks on the cloud account boundary: credentials pasted into a profile reach user data, which
anyone on the instance and anyone with describe rights can read.

One attack per family of credential that teams paste, each pasted into every place a literal can
enter the output. Each asserts that `check` reports it at the profile line that holds it, and that
a certain credential (a private key, wrapped or bundled) is refused by validate and render too.

No credential below is a literal: each is built at run time from pieces and seeded random
characters, so that no scanner (push protection included) sees a real-looking one in the source.
"""

from __future__ import annotations

import base64
import datetime
import json
import random
import string
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bootstrap.checks.run import check_profile
from bootstrap.cli import main
from bootstrap.errors import InputError

RNG = random.Random(21)
ALNUM = string.ascii_letters + string.digits


def pick(alphabet: str, count: int) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(count))


def pem(der: bytes, label: str = "PRIVATE KEY") -> str:
    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n"


def key_der() -> bytes:
    """A PKCS#8 Ed25519 private key in DER, as `openssl genpkey -outform DER` writes it."""
    return bytes.fromhex("302e020100300506032b657004220420") + RNG.randbytes(32)


def rsa_der() -> bytes:
    """A PKCS#1 RSA private key in DER: version 0, then nine integers (random, shaped as a 2048-bit key)."""
    ints = b"".join(b"\x02\x82\x01\x01\x00" + RNG.randbytes(256) if n < 2 else b"\x02\x81\x81\x00" + RNG.randbytes(128)
                    for n in range(8))  # fmt: skip
    body = b"\x02\x01\x00" + ints
    return b"\x30\x82" + len(body).to_bytes(2, "big") + body


def pkcs12_bundle(with_key: bool = True) -> bytes:
    """A .p12 / .pfx as `openssl pkcs12 -export` writes it: a key and its certificate, or certificates only."""
    crypto = pytest.importorskip("cryptography")
    del crypto
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bundle")])
    start = datetime.datetime(2024, 1, 1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(start).not_valid_after(start + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))  # fmt: skip
    return pkcs12.serialize_key_and_certificates(b"bundle", key if with_key else None, cert, None,
                                                 BestAvailableEncryption(b"pw"))  # fmt: skip


def service_account_json() -> str:
    return json.dumps({"type": "service_" + "account", "project_id": "p", "private_key_id": pick(string.hexdigits, 40),
                       "private_key": pem(key_der()), "client_email": "x@p.iam.gserviceaccount.com"})  # fmt: skip


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


# Each family: a fresh credential on every call (a place of its own never shares a literal with another).
LIKELY: dict[str, Callable[[], str]] = {
    "hugging-face": lambda: "hf_" + pick(string.ascii_letters, 34),
    "gitlab": lambda: "glpat" + "-" + pick(ALNUM + "_-", 20),
    "github-fine-grained": lambda: "github" + "_pat_" + pick(ALNUM, 22) + "_" + pick(ALNUM, 59),
    "bitbucket": lambda: "ATBB" + pick(ALNUM, 32),
    "pypi": lambda: "pypi-" + "AgEIcHlwaS5vcmc" + pick(ALNUM + "-_", 150),
    "npm": lambda: "npm" + "_" + pick(ALNUM, 36),
    "azure-storage": lambda: "DefaultEndpointsProtocol=https;AccountName=teamdata;AccountKey=" + b64(RNG.randbytes(64))
    + ";EndpointSuffix=core.windows.net",
}
CERTAIN: dict[str, Callable[[], str]] = {
    "base64-wrapped-pem-key": lambda: b64(pem(key_der())),  # a CI variable's `base64 -w0 id_key`
    "base64-wrapped-service-account": lambda: b64(service_account_json()),  # GOOGLE_CREDENTIALS, base64'd
    "base64-der-key": lambda: b64(rsa_der()),  # a DER key file, base64'd on one line
    "base64-pkcs12": lambda: b64(pkcs12_bundle()),  # a .pfx, base64'd
}


def place(where: str, value: str) -> tuple[str, dict[str, bytes], str]:
    """(profile text, side files, where the finding belongs): "LINE:" for a value, "LINE:COL" for the
    step that embeds a file (the item or feature that names the file)."""
    q = json.dumps
    if where == "commands":
        return f"name: x\ncommands:\n  first_boot:\n    - name: c\n      run: {q('echo ' + value)}\n", {}, "5:"
    if where == "files-content":
        return f"name: x\nfiles:\n  - path: /etc/app.conf\n    content: {q(value)}\n", {}, "4:"
    if where == "files-source":
        side = {"app.conf": f"[remote]\ntoken = {value}\n".encode()}
        return "name: x\nfiles:\n  - path: /etc/app.conf\n    source: app.conf\n", side, "3:5"
    if where == "conda-file":
        spec = f"name: e\ndependencies:\n  - python=3.11\nvariables:\n  NOTE: {q(value)}\n"
        side = {"environment.yml": spec.encode()}
        return "name: x\nconda:\n  environments:\n    - name: e\n      file: environment.yml\n", side, "3:3"
    if where == "conda-spec":
        return (f"name: x\nconda:\n  environments:\n    - name: e\n      spec:\n        dependencies: [python=3.11]\n"
                f"        variables: {{NOTE: {q(value)}}}\n", {}, "7:")  # fmt: skip
    if where == "env":
        return f"name: x\nenv:\n  NOTE: {q(value)}\n", {}, "3:"
    if where == "services-command":
        return f"name: x\nservices:\n  units:\n    - name: app\n      command: {q('serve --key ' + value)}\n", {}, "5:"
    if where == "services-environment":
        return (f"name: x\nservices:\n  units:\n    - name: app\n      command: serve\n      environment:\n"
                f"        NOTE: {q(value)}\n", {}, "7:")  # fmt: skip
    if where == "verify":
        return f"name: x\nverify:\n  - {q('test ' + value + ' = x')}\n", {}, "3:"
    raise AssertionError(where)


PLACES = ["commands", "files-content", "files-source", "conda-file", "conda-spec", "env", "services-command",
          "services-environment", "verify"]  # fmt: skip


def write(tmp_path: Path, where: str, value: str) -> tuple[Path, str]:
    """The profile, and where its finding belongs as `check` prints it."""
    text, side, at = place(where, value)
    folder = tmp_path / where
    folder.mkdir()
    for name, data in side.items():
        (folder / name).write_bytes(data)
    profile = folder / "profile.yaml"
    profile.write_text(text)
    return profile, f"{profile}:{at}"  # a step's finding goes on: " (step ID, its line N)"


@pytest.mark.parametrize("family", sorted(LIKELY))
def test_a_pasted_token_is_found_at_its_line_in_every_place(family: str, tmp_path: Path) -> None:
    missed = {}
    for where in PLACES:
        profile, at = write(tmp_path, where, LIKELY[family]())
        found = [str(f).split("\n")[0] for f in check_profile(str(profile), ["bash"]).findings if f.check == "secrets"]
        where_ok = found and found[0].startswith(at) and (at.endswith(":") or found[0][len(at):].startswith(" (step"))
        if len(found) != 1 or not where_ok or ": error:" not in found[0]:
            missed[where] = found
    assert missed == {}, f"{family} passed the scan (or was reported elsewhere, or twice) in: {missed}"


@pytest.mark.parametrize("family", sorted(CERTAIN))
def test_a_pasted_key_is_refused_at_its_line_in_every_place(family: str, tmp_path: Path, capsys) -> None:
    missed = {}
    for where in PLACES:
        profile, at = write(tmp_path, where, CERTAIN[family]())
        for command in (["check", "-t", "bash"], ["validate"], ["render", "-t", "bash"]):
            code = main([command[0], str(profile), *command[1:]])
            err = capsys.readouterr().err
            located = at if at.endswith(":") else at + ": error:"
            if code != 2 or located not in err or "would carry a literal" not in err:
                missed[f"{where} {command[0]}"] = (code, err.strip().splitlines()[:1])
    assert missed == {}, f"{family} was not refused in: {missed}"


def test_a_binary_key_bundle_source_is_refused(tmp_path: Path, capsys) -> None:
    (tmp_path / "team.p12").write_bytes(pkcs12_bundle())
    profile = tmp_path / "profile.yaml"
    profile.write_text("name: x\nfiles:\n  - path: /etc/ssl/private/team.p12\n    source: team.p12\n")
    for command in ("validate", "render", "check"):
        assert main([command, str(profile)]) == 2
        err = capsys.readouterr().err
        assert f"{profile}:3:5: error:" in err and "PKCS#12" in err, err


def test_a_bundle_of_certificates_only_is_a_finding_not_a_refusal(tmp_path: Path) -> None:
    """A truststore (.p12 of public certificates, its contents encrypted) cannot be told from an encrypted
    key bundle: check reports it, render does not refuse a file that may be public."""
    (tmp_path / "trust.p12").write_bytes(pkcs12_bundle(with_key=False))
    profile = tmp_path / "profile.yaml"
    profile.write_text("name: x\nfiles:\n  - path: /etc/ssl/trust.p12\n    source: trust.p12\n")
    assert main(["render", str(profile), "-t", "bash", "-o", str(tmp_path / "out")]) == 0
    [finding] = [f for f in check_profile(str(profile), ["bash"]).findings if f.check == "secrets"]
    assert finding.where.startswith(f"{profile}:3:5 (step") and "PKCS#12" in finding.message


def test_a_line_wrapped_base64_key_is_refused(tmp_path: Path, capsys) -> None:
    """The body of a PEM key without its header lines, or `base64 id.der` (76 columns): a key all the same."""
    wrapped = base64.encodebytes(rsa_der()).decode()
    (tmp_path / "id.b64").write_text(wrapped)
    indented = "".join(f"      {line}\n" for line in wrapped.splitlines())
    cases = {
        "content": (f"name: x\nfiles:\n  - path: /root/id\n    content: |\n{indented}", "5:"),
        "source": ("name: x\nfiles:\n  - path: /root/id\n    source: id.b64\n", "3:5:"),
    }
    for text, at in cases.values():
        profile = tmp_path / "profile.yaml"
        profile.write_text(text)
        assert main(["render", str(profile), "-t", "bash"]) == 2
        err = capsys.readouterr().err
        assert f"{profile}:{at}" in err and "would carry a literal" in err, err


def test_one_credential_in_a_value_and_its_step_is_reported_once_for_every_target(tmp_path: Path) -> None:
    token = LIKELY["hugging-face"]()
    profile = tmp_path / "profile.yaml"
    profile.write_text(f"name: x\nfiles:\n  - path: /etc/hf\n    content: {token}\nverify: [test -s /etc/hf]\n")
    report = check_profile(str(profile), ["cloud-init", "ec2", "gce", "bash"])
    found = [f.where for f in report.findings if f.check == "secrets"]
    assert found == [f"{profile}:4:14"], found


def test_a_credential_matched_by_two_detectors_is_one_finding(tmp_path: Path) -> None:
    """An AWS key id is matched by ours and by the library's: one leak, one finding."""
    profile = tmp_path / "profile.yaml"
    profile.write_text("name: x\nenv:\n  NOTE: " + "AKIA" + pick(string.ascii_uppercase + string.digits, 16) + "\n")
    found = [f for f in check_profile(str(profile), ["bash"]).findings if f.check == "secrets"]
    assert len(found) == 1, [str(f) for f in found]


ODD = {
    "huge line of JWT starts": lambda: "eyJ" * 250_000,
    "huge line of URL starts": lambda: "a://b:" * 120_000,
    "huge line of base64": lambda: b64(RNG.randbytes(600_000)),
    "huge line of one letter": lambda: "A" * 900_000,
    "DER headers with lengths past the end": lambda: b64(b"\x30\x83\xff\xff\xff\x02\x01\x03" * 40)
    + " " + b64(b"\x30\x84\x7f\xff\xff\xff\x02\x01\x00\x30" * 40),
    "padding only": lambda: "=" * 4000 + "A===" * 1000,
    "control and format characters": lambda: "".join(chr(c) for c in range(1, 32) if c not in (10, 13)) * 300
    + "\u202e\ufeff\u200b" * 300,
}


@pytest.mark.parametrize("case", sorted(ODD))
def test_odd_input_is_a_finding_or_nothing_never_a_traceback(case: str, tmp_path: Path) -> None:
    profile = tmp_path / "profile.yaml"
    profile.write_text("name: x\nfiles:\n  - path: /etc/odd\n    content: " + json.dumps(ODD[case]()) + "\n")
    start = time.monotonic()
    try:
        wheres = [f.where for f in check_profile(str(profile), ["bash"]).findings if f.check == "secrets"]
    except InputError as refused:  # a located refusal is an answer too
        wheres = [str(problem.mark) for problem in refused.problems]
    assert time.monotonic() - start < 60, "the scan must stay linear, whatever the input"
    assert all(where.startswith(f"{profile}:") for where in wheres), wheres


def test_binary_and_invalid_utf8_sources_are_scanned_not_crashed_on(tmp_path: Path) -> None:
    token = LIKELY["gitlab"]()
    (tmp_path / "blob.bin").write_bytes(RNG.randbytes(200_000))
    (tmp_path / "latin1.conf").write_bytes(b"caf\xe9 = ok\ntoken = " + token.encode() + b"\n\xff\xfe\n")
    profile = tmp_path / "profile.yaml"
    profile.write_text("name: x\nfiles:\n  - path: /opt/blob\n    source: blob.bin\n"
                       "  - path: /etc/latin1.conf\n    source: latin1.conf\n")  # fmt: skip
    found = [f for f in check_profile(str(profile), ["bash"]).findings if f.check == "secrets"]
    assert [f.where.split(" (")[0] for f in found] == [f"{profile}:5:5"], [str(f) for f in found]


def test_aliases_repeating_a_long_value_are_bounded(tmp_path: Path) -> None:
    """A YAML bomb-ish value: one long token-like string repeated by aliases up to the loader's bound."""
    long = pick(ALNUM, 200_000)
    profile = tmp_path / "profile.yaml"
    profile.write_text(f"name: x\nenv:\n  A: &a {long}\n  B: *a\n  C: *a\n  D: *a\n  E: *a\n")
    start = time.monotonic()
    code = main(["check", str(profile), "-t", "bash"])
    assert code in (0, 1, 2) and time.monotonic() - start < 60
