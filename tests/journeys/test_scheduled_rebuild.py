"""Journey 3, the scheduled job that rebuilds golden images: over a team's profiles folder (with an
abstract parent and a conda environment file beside the profiles), a dry run, then real rebuilds
against EC2 (a moto server) and GCE (the Compute API stand-in), as the nightly workflow runs them.
images.json is written; a second run does nothing; a changed profile rebuilds only itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..aws_fakes import REGION, SOURCE_PARAMETER
from .conftest import Run

pytest.importorskip("boto3")
pytest.importorskip("google.cloud.compute_v1")

ZONE = "europe-west1-b"
COPY_REGION = "us-west-2"


def team_folder(repo: Path) -> Path:
    profiles = repo / "profiles"
    (profiles / "envs").mkdir(parents=True)
    (profiles / "team.yaml").write_text("name: team\nabstract: true\npackages: [git]\n")
    (profiles / "alpha.yaml").write_text("name: alpha\nextends: [team]\npackages: [jq]\n")
    (profiles / "beta.yaml").write_text("name: beta\nextends: [team]\npackages: [htop]\n")
    (profiles / "envs" / "ds.yml").write_text("name: ds\nchannels: [conda-forge]\ndependencies: [python=3.11]\n")
    return profiles


def ec2_images(manifest: bytes) -> dict[str, dict[str, str]]:
    """profile/image hash -> region -> AMI, from images.json."""
    profiles = json.loads(manifest)["profiles"]
    return {f"{name}/{key}": entry["ec2"] for name, hashes in profiles.items() for key, entry in hashes.items()}


def rows(stdout: str) -> dict[str, str]:
    """`rebuild`'s summary: status per profile file name."""
    found = {}
    for line in stdout.splitlines():
        status, reference, *_ = [*line.split(), "", ""]
        if reference.endswith((".yaml", ".yml")):
            found[Path(reference).stem] = status
    return found


def test_nightly_rebuild_on_ec2_and_gce(repo: Path, bootstrap: Run, aws, gce_server) -> None:  # type: ignore[no-untyped-def]
    from ..ec2_guest import Ec2GuestProxy

    team_folder(repo)
    running, compute = gce_server
    compute.reset()
    with Ec2GuestProxy(aws) as proxy:
        ec2 = ["rebuild", "profiles", "-b", "ec2", "--region", REGION, "--source", f"ssm:{SOURCE_PARAMETER}",
               "--endpoint-url", proxy.endpoint, "--timeout", "120", "--copy-to", COPY_REGION]  # fmt: skip
        env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true"}

        dry = bootstrap(*ec2, "--dry-run", env=env)
        assert rows(dry.stdout) == {"alpha": "planned", "beta": "planned", "team": "skipped"}
        assert "profiles/envs/ds.yml: a conda environment file" in dry.stderr  # left alone, and said
        assert "bake: alpha: " in dry.stderr and "bake: beta: " in dry.stderr  # every line says whose it is
        assert not (repo / "images.json").exists()
        assert aws.client("ec2").describe_images(Owners=["self"])["Images"] == []

        built = bootstrap(*ec2, env=env)
        assert rows(built.stdout) == {"alpha": "built", "beta": "built", "team": "skipped"}
        assert proxy.console_reads > 0  # the guests' consoles were read through the EC2 API
        manifest = json.loads((repo / "images.json").read_text())["profiles"]  # profile → image hash → images
        assert set(manifest) == {"alpha", "beta"}
        amis = [entry["ec2"][region] for hashes in manifest.values() for entry in hashes.values()
                for region in (REGION, COPY_REGION)]  # fmt: skip
        assert len(amis) == 4 and all(ami.startswith("ami-") for ami in amis)
        recorded = (repo / "images.json").read_bytes()

        again = bootstrap(*ec2, env=env)
        assert rows(again.stdout) == {"alpha": "unchanged", "beta": "unchanged", "team": "skipped"}
        assert (repo / "images.json").read_bytes() == recorded  # nothing changed: not a byte rewritten

        (repo / "images.json").unlink()  # e.g. a fresh checkout of a repository that never kept it
        bootstrap(*ec2, env=env)
        # every region's image recorded again, for unchanged profiles too
        assert ec2_images((repo / "images.json").read_bytes()) == ec2_images(recorded)

        beta = repo / "profiles" / "beta.yaml"
        beta.write_text(beta.read_text().replace("[htop]", "[htop, tmux]"))
        changed = bootstrap(*ec2, env=env)
        assert rows(changed.stdout) == {"alpha": "unchanged", "beta": "built", "team": "skipped"}
        assert len(json.loads((repo / "images.json").read_text())["profiles"]["beta"]) == 2  # the history is kept

    gce = ["rebuild", "profiles", "-b", "gce", "--project", "team", "--zone", ZONE, "--endpoint-url",
           running.endpoint, "--timeout", "120"]  # fmt: skip
    env = {"BOOTSTRAP_GCE_CREDENTIALS": "anonymous"}
    assert rows(bootstrap(*gce, env=env).stdout) == {"alpha": "built", "beta": "built", "team": "skipped"}
    assert rows(bootstrap(*gce, env=env).stdout) == {"alpha": "unchanged", "beta": "unchanged", "team": "skipped"}
    manifest = json.loads((repo / "images.json").read_text())["profiles"]
    both = {profile for profile, hashes in manifest.items() if any({"ec2", "gce"} <= set(e) for e in hashes.values())}
    assert both == {"alpha", "beta"}  # the current image hash of each, built on both clouds
    sources = [entry["sources"] for hashes in manifest.values() for entry in hashes.values() if "gce" in entry]
    assert all(s["ec2"].startswith("ami-") and "debian" in s["gce"] for s in sources)  # each cloud's own source


def test_a_manifest_with_merge_conflicts_stops_the_run_and_keeps_every_record(repo: Path, bootstrap: Run) -> None:
    """Two branches of the nightly job each recorded an image: git left both between markers."""
    team_folder(repo)
    conflicted = (
        '{\n  "profiles": {\n<<<<<<< HEAD\n    "alpha": {"h1": {"local": {"-": "alpha-1"}}}\n'
        '=======\n    "alpha": {"h2": {"local": {"-": "alpha-2"}}}\n>>>>>>> nightly\n  }\n}\n'
    )
    (repo / "images.json").write_text(conflicted)
    for extra in ([], ["--dry-run"]):
        refused = bootstrap("rebuild", "profiles", *extra, expect=2)
        assert "images.json:3:1: error: images.json holds git merge-conflict markers" in refused.stderr
        assert (repo / "images.json").read_text() == conflicted  # not replaced by an empty one
    (repo / "images.json").write_text('{"profiles": {"alpha": ')
    refused = bootstrap("rebuild", "profiles", expect=2)
    assert "images.json:1:" in refused.stderr and "not valid JSON" in refused.stderr
