"""A team bakes with the Packer export, then manages the images with bootstrap: an image carrying exactly
the tags (EC2, in moto) or labels (GCE, in the stand-in) the exported template gives is listed by
`bootstrap images list`; once `images promote --image` points `latest` at it, the Terraform export's
lookups (the SSM parameter, the channel label in the family) find it.

Packer fills some values at build time; the test stands in for it with ``BUILT`` (what it would write)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..aws_fakes import REGION, SOURCE_PARAMETER
from ..gce_standin import _fingerprint
from ..test_exports import unquote
from .conftest import Run

hcl2 = pytest.importorskip("hcl2")

ANALYST = "name: analyst\npackages: [jq]\n"
ZONE = "europe-west1-b"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true"}


def built(value: str, source: str) -> str:
    """A tag value of the template as Packer writes it on the image: its build variables and locals filled."""
    for expression, filled in (("{{ .SourceAMI }}", source), ("${var.gcp_source_image_family}", "debian-12"),
                               ("${local.stamp}", "20261201-120000")):  # fmt: skip
        value = value.replace(expression, filled)
    assert "{{" not in value and "${" not in value, f"a build-time value the test does not know: {value}"
    return value


def exported(repo: Path, bootstrap: Run) -> tuple[dict, dict]:
    """The Packer template's sources by kind, and the Terraform export (JSON)."""
    bootstrap("export", "packer", "analyst.yaml", "-o", "out")
    bootstrap("export", "terraform", "analyst.yaml", "-o", "out")
    template = unquote(hcl2.loads((repo / "out" / "analyst.pkr.hcl").read_text()))
    sources = {kind: body["bootstrap"] for block in template["source"] for kind, body in block.items()}
    return sources, json.loads((repo / "out" / "analyst.tf.json").read_text())


@pytest.fixture
def analyst(repo: Path) -> Path:
    (repo / "analyst.yaml").write_text(ANALYST)
    return repo


def test_an_ami_packer_built_is_listed_and_found_by_terraform_once_promoted(analyst: Path, bootstrap: Run,
                                                                           aws) -> None:  # fmt: skip
    sources, terraform = exported(analyst, bootstrap)
    ebs = sources["amazon-ebs"]
    ec2 = aws.client("ec2")
    source_ami = aws.client("ssm").get_parameter(Name=SOURCE_PARAMETER)["Parameter"]["Value"]
    instance = ec2.run_instances(ImageId=source_ami, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ami = ec2.create_image(InstanceId=instance, Name="bootstrap-analyst-packer")["ImageId"]  # as amazon-ebs does
    ec2.create_tags(Resources=[ami], Tags=[{"Key": k, "Value": built(v, source_ami)} for k, v in ebs["tags"].items()])
    cloud = ["-b", "ec2", "--region", REGION, "--endpoint-url", aws.endpoint]

    listed = json.loads(bootstrap("images", "list", "analyst", *cloud, "--json", env=AWS_ENV).stdout)["images"]
    assert [row["image"] for row in listed] == [ami]
    assert listed[0]["channels"] == []  # Packer moves no channel: bootstrap does, below

    bootstrap("images", "promote", "analyst", "--channel", "latest", "--image", ami, *cloud, env=AWS_ENV)
    key = "analyst"
    parameter = terraform["data"]["aws_ssm_parameter"][f"{key}_image"]["name"].replace(f"${{var.{key}_channel}}",
                                                                                       "latest")  # fmt: skip
    assert aws.client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"] == ami


def test_a_gce_image_packer_built_is_listed_and_found_by_terraform_once_promoted(analyst: Path, bootstrap: Run,
                                                                                gce_server) -> None:  # fmt: skip
    running, compute = gce_server
    compute.reset()
    sources, terraform = exported(analyst, bootstrap)
    google = sources["googlecompute"]
    name = "bootstrap-analyst-packer"
    labels = {k: built(v, "") for k, v in google["image_labels"].items()}
    image = compute._image_resource("team", {"name": name, "family": google["image_family"], "labels": labels}, "")
    compute.images[f"team/{name}"] = {**image, "labelFingerprint": _fingerprint(labels)}  # as images.insert makes it
    cloud = ["-b", "gce", "--project", "team", "--zone", ZONE, "--endpoint-url", running.endpoint]
    env = {"BOOTSTRAP_GCE_CREDENTIALS": "anonymous"}

    listed = json.loads(bootstrap("images", "list", "analyst", *cloud, "--json", env=env).stdout)["images"]
    assert [row["image"] for row in listed] == [name]

    bootstrap("images", "promote", "analyst", "--channel", "latest", "--image", name, *cloud, env=env)
    lookup = terraform["data"]["google_compute_image"]["analyst_image"]["filter"]
    family, profile, channel = lookup.replace("${var.analyst_channel}", "latest").split(" AND ")
    image = compute.images[f"team/{name}"]
    assert family == f'family = "{image["family"]}"'
    assert profile == f'labels.bootstrap-profile = "{image["labels"]["bootstrap-profile"]}"'
    assert channel.removeprefix("labels.").removesuffix(":*") in image["labels"]
