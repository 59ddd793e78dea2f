"""Journey 4, golden images as a team asset (issue 16): a profile that says who gets its image, baked
with one more --share, a second bake, `images promote` to stable, `images rollback`, and a prune with a
grace period, on EC2 (a moto server) and GCE (the Compute API stand-in), with the installed command."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ..aws_fakes import REGION, SOURCE_PARAMETER
from .conftest import Run

pytest.importorskip("boto3")
pytest.importorskip("google.cloud.compute_v1")

PROFILE = """\
name: analyst
packages: [jq]
image:
  share:
    - "210987654321"
    - group:analysts@example.com
"""


def images(bootstrap: Run, where: list[str], env: dict[str, str]) -> dict[str, dict]:
    listed = json.loads(bootstrap("images", "list", "analyst", "--json", *where, env=env).stdout)["images"]
    return {row["image"]: row for row in listed if row["region"] in ("", REGION)}


def test_share_promote_rollback_and_prune_with_grace(repo: Path, bootstrap: Run, aws, gce_server) -> None:  # type: ignore[no-untyped-def]
    from ..ec2_guest import Ec2GuestProxy

    (repo / "analyst.yaml").write_text(PROFILE)
    bad = repo / "bad.yaml"
    bad.write_text(PROFILE.replace('"210987654321"', '"21098765432"'))
    refused = bootstrap("bake", "bad.yaml", "-b", "ec2", "--region", REGION, "--source", "ami-1", expect=2)
    assert "bad.yaml:5:7" in refused.stderr and "image.share[0]" in refused.stderr  # before any call

    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true"}
    with Ec2GuestProxy(aws) as proxy:
        where = ["-b", "ec2", "--region", REGION, "--endpoint-url", proxy.endpoint]
        bake = ["bake", "analyst.yaml", *where, "--source", f"ssm:{SOURCE_PARAMETER}", "--timeout", "120"]
        first = bootstrap(*bake, "--share", "arn:aws:organizations::123456789012:organization/o-a1b2c3d4e5", env=env)
        assert "shared with 210987654321, arn:aws:organizations" in first.stderr
        assert "not shared with group:analysts@example.com: for another cloud's backend" in first.stderr
        [first_ami] = images(bootstrap, where, env)
        ec2 = aws.client("ec2")
        granted = ec2.describe_image_attribute(ImageId=first_ami, Attribute="launchPermission")["LaunchPermissions"]
        assert {"UserId": "210987654321"} in granted and len(granted) == 2

        assert "-> " + first_ami in bootstrap("images", "promote", "analyst", "--channel", "stable", *where,
                                              env=env).stdout  # fmt: skip
        (repo / "analyst.yaml").write_text(PROFILE.replace("[jq]", "[jq, htop]"))
        time.sleep(1.1)  # moto's image creation dates have one-second resolution
        bootstrap(*bake, "--keep", "1", "--grace", "7", env=env)
        listed = images(bootstrap, where, env)
        [second_ami] = [ami for ami in listed if ami != first_ami]
        assert listed[second_ami]["channels"] == ["latest"] and listed[first_ami]["channels"] == ["stable"]
        assert "210987654321" in listed[first_ami]["shared_with"]  # images list says who has it
        bootstrap("images", "promote", "analyst", "--channel", "stable", *where, env=env)
        ssm = aws.client("ssm")
        assert ssm.get_parameter(Name="/bootstrap/analyst/stable")["Parameter"]["Value"] == second_ami
        back = bootstrap("images", "rollback", "analyst", "--channel", "stable", *where, env=env)
        assert f"-> {first_ami} (was {second_ami})" in back.stdout
        assert ssm.get_parameter(Name="/bootstrap/analyst/stable")["Parameter"]["Value"] == first_ami

        deleted = bootstrap("images", "delete", "analyst", "--image", first_ami, *where, env=env, expect=3)
        assert "is what channel stable points at" in deleted.stderr

    running, compute = gce_server
    compute.reset()
    gce = ["-b", "gce", "--project", "team", "--zone", "europe-west1-b", "--endpoint-url", running.endpoint]
    genv = {"BOOTSTRAP_GCE_CREDENTIALS": "anonymous"}
    bootstrap("bake", "analyst.yaml", *gce, "--machine-image", "--timeout", "120", env=genv)
    [image] = images(bootstrap, gce, genv)
    assert compute.images[f"team/{image}"]["iam"]["bindings"][0]["members"] == ["group:analysts@example.com"]
    assert compute.machine_images[f"team/{image}-vm"]["iam"]["bindings"][0]["members"] == [
        "group:analysts@example.com"]  # fmt: skip
    bootstrap("images", "promote", "analyst", "--channel", "stable", *gce, env=genv)
    (repo / "analyst.yaml").write_text(PROFILE.replace("[jq]", "[jq, tmux]"))
    bootstrap("bake", "analyst.yaml", *gce, "--keep", "1", "--grace", "7", "--timeout", "120", env=genv)
    listed = images(bootstrap, gce, genv)
    assert len(listed) == 2 and listed[image]["channels"] == ["stable"]  # kept: stable points at it
    assert listed[image]["shared_with"] == ["group:analysts@example.com"]
    bootstrap("images", "promote", "analyst", "--channel", "stable", *gce, env=genv)
    pruned = bootstrap("bake", "analyst.yaml", *gce, "--keep", "1", "--grace", "7", "--force", "--timeout", "120",
                       env=genv)  # fmt: skip
    assert f"old image {image} deprecated" in pruned.stderr  # no channel holds it now: deprecated, not deleted
    assert compute.images[f"team/{image}"]["deprecated"]["state"] == "DEPRECATED"
