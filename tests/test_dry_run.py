"""A dry run is the real run without the machines (issue 22.5): what the real run would refuse before
its first machine, the dry run says too, "would fail: WHY", instead of "planned"."""

from __future__ import annotations

import json
import random

import pytest

from bootstrap.cli import main

from .aws_fakes import REGION, SOURCE_PARAMETER

pytest.importorskip("boto3")


@pytest.fixture
def too_big(tmp_path):  # type: ignore[no-untyped-def]
    """A profile whose EC2 user data stays over 16 KiB even gzipped: 48 KiB of random hex in a file."""
    rng = random.Random(22)
    (tmp_path / "blob.txt").write_text("".join(rng.choice("0123456789abcdef") for _ in range(48 * 1024)))
    profile = tmp_path / "big.yaml"
    profile.write_text("name: big\nfiles:\n  - {path: /opt/blob.txt, source: blob.txt, scope: image}\n")
    return profile


def test_bake_dry_run_over_the_size_limit_would_fail(aws, too_big, monkeypatch, capsys) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    code = main(["bake", str(too_big), "-b", "ec2", "--source", f"ssm:{SOURCE_PARAMETER}", "--endpoint-url",
                 aws.endpoint, "--dry-run"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "big: would fail:" in err and "16,384" in err, err
    assert "would launch" not in err


def test_rebuild_dry_run_reports_per_profile(aws, too_big, tmp_path, monkeypatch, capsys) -> None:
    (tmp_path / "small.yaml").write_text("name: small\npackages: [jq]\n")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    code = main(["rebuild", str(tmp_path), "-b", "ec2", "--source", f"ssm:{SOURCE_PARAMETER}", "--endpoint-url",
                 aws.endpoint, "--dry-run", "--json"])  # fmt: skip
    results = {r["profile"].rsplit("/", 1)[-1]: r for r in json.loads(capsys.readouterr().out)["results"]}
    assert results["small.yaml"]["status"] == "planned"
    assert results["big.yaml"]["status"] == "would-fail" and "16,384" in results["big.yaml"]["error"]
    assert code == 1
