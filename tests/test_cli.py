"""The command line: exit codes, messages on stderr, never a traceback."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys

import pytest

from bootstrap import __version__
from bootstrap.cli import main


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bootstrap", *args], capture_output=True, text=True, timeout=60)


def test_version_and_help() -> None:
    assert run("--version").stdout.strip() == f"bootstrap {__version__}"
    assert run().returncode == 2


def test_bake_help_says_the_chosen_backend_s_principals_only() -> None:
    gce = " ".join(run("bake", "-b", "gce", "--help").stdout.split())  # help wraps its lines
    assert "--share PRINCIPAL also let this principal launch the image" in gce
    assert "a GCE IAM member" in gce and "EC2 account" not in gce
    local = " ".join(run("bake", "-b", "local", "--help").stdout.split())
    assert "the local backend shares no images" in local and "GCE IAM member" not in local
    every = " ".join(run("bake", "--help").stdout.split())  # no -b: each cloud's, named
    assert "(12 digits)" in every and "domain:DOMAIN) (gce)" in every


def test_render_to_stdout_and_file(tmp_path, capsys) -> None:
    assert main(["render", "base", "--target", "bash"]) == 0
    assert capsys.readouterr().out.startswith("#!/usr/bin/env bash\n")
    out = tmp_path / "ud"
    assert main(["render", "base", "--target", "ec2", "-o", str(out)]) == 0
    assert gzip.decompress(out.read_bytes()).startswith(b"Content-Type: multipart/mixed")
    assert "gzipped" in capsys.readouterr().err


def test_gzip_output_to_a_terminal_needs_a_file_or_base64(capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)  # a pipe takes the bytes (journeys/test_output_streams)
    assert main(["render", "base", "--target", "ec2"]) == 2
    assert "-o FILE or use --base64" in capsys.readouterr().err
    assert main(["render", "base", "--target", "ec2", "--base64"]) == 0
    encoded = capsys.readouterr().out.strip()
    assert gzip.decompress(base64.b64decode(encoded)).startswith(b"Content-Type")


def test_validate_reports_every_profile(write_profile) -> None:
    bad = write_profile("name: x\npakages: []\n", "bad.yaml")
    result = run("validate", "base", str(bad))
    assert result.returncode == 2
    assert "ok: base" in result.stdout
    assert f"{bad}:2:1: error: unknown key 'pakages'" in result.stderr
    assert "Traceback" not in result.stderr
    listed = json.loads(run("validate", "--json", str(bad)).stdout)
    assert listed[0]["problems"][0]["where"] == {"file": str(bad), "line": 2, "column": 1}


@pytest.mark.parametrize(
    "args",
    [
        ["render", "missing-profile"],
        ["render", "base", "--target", "azure"],
        ["render", "base", "--set", "timezon=UTC"],
        ["render", "base", "--set", "nope"],
        ["render", "base", "--gzip", "--target", "bash"],
        ["validate"],
        ["frobnicate"],
    ],
)
def test_bad_usage_exits_2_without_traceback(args: list[str]) -> None:
    result = run(*args)
    assert result.returncode == 2, result
    assert result.stderr.strip() and "Traceback" not in result.stderr


def test_render_refusal_exits_1(write_profile) -> None:
    import os

    text = base64.b64encode(os.urandom(40_000)).decode()
    profile = write_profile(f"name: big\nfiles: [{{path: /etc/big, content: '{text}'}}]\n")
    result = run("render", str(profile), "--target", "ec2", "-o", os.devnull)
    assert result.returncode == 1 and "does not fit" in result.stderr


def test_schema_and_list(capsys) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"].endswith("2020-12/schema") and "packages" in schema["properties"]
    assert main(["list"]) == 0
    assert capsys.readouterr().out.startswith("base ")


def test_unreadable_and_directory_inputs(tmp_path) -> None:
    result = run("render", str(tmp_path) + "/")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_render_imports_no_cloud_sdk() -> None:
    """boto3 costs ~0.3 s and google-cloud-compute ~3 s to import: only their backends may."""
    import subprocess
    import sys

    code = ("import sys; from bootstrap.cli import main; main(['render', 'base', '-t', 'ec2', '--base64', '-o', "
            "'/dev/null']); heavy = [m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'google')]; "
            "print(heavy); sys.exit(1 if heavy else 0)")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_misspelt_option_gets_a_suggestion() -> None:
    result = run("render", "base", "--targt", "bash")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "unrecognized arguments: --targt" in result.stderr and "did you mean --target?" in result.stderr
