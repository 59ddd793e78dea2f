"""Every export's tags and labels held to the backends' own: the images a Packer template builds carry a
bake's identity tags (bake/backend.py's Identity.tags() and role image) in each cloud's spelling, on the
AMI, its snapshots and the GCE image alike; the names Terraform looks images up by are the ones the
backends write (the SSM parameter, the family, the channel label); Terraform's own tags are spelt the
same way on both clouds."""

from __future__ import annotations

import json

import pytest

from bootstrap.bake import channels
from bootstrap.bake.backend import (
    TAG_HASH,
    TAG_PROFILE,
    TAG_PROMOTED,
    TAG_ROLE,
    Identity,
    Image,
    channel_marks,
    tag_value,
)
from bootstrap.cli import main
from bootstrap.clouds.ec2 import vocabulary as ec2
from bootstrap.clouds.gce import vocabulary as gce
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile

from .test_exports import unquote

hcl2 = pytest.importorskip("hcl2")
PROFILE = "cpu-datascience"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    folder = tmp_path_factory.mktemp("exports")
    assert main(["export", "packer", PROFILE, "-o", str(folder)]) == 0
    assert main(["export", "terraform", PROFILE, "-o", str(folder)]) == 0
    template = unquote(hcl2.loads((folder / f"{PROFILE}.pkr.hcl").read_text()))
    sources = {kind: body["bootstrap"] for block in template["source"] for kind, body in block.items()}
    return sources, json.loads((folder / f"{PROFILE}.tf.json").read_text())


def identity(source: str) -> dict[str, str]:
    plan = build_plan(load_profile(PROFILE))
    return {**Identity(plan.profile, plan.image_hash, source).tags(), TAG_ROLE: "image"}


def test_packer_images_carry_a_bake_s_identity_in_each_cloud_s_spelling(exported: tuple[dict, dict]) -> None:
    sources, _ = exported
    ebs, google = sources["amazon-ebs"], sources["googlecompute"]
    for tags in (ebs["tags"], ebs["snapshot_tags"]):
        assert {k: v for k, v in tags.items() if k != TAG_PROMOTED} == ec2.tags(identity(ec2.PACKER_SOURCE))
        assert tags[TAG_PROMOTED]  # counts as built, as `bake --no-test`'s image does
    labels = google["image_labels"]
    wanted = gce.tags(identity("${var.gcp_source_image_family}"))
    assert {k: v for k, v in labels.items() if k != gce.label(TAG_PROMOTED)} == wanted
    assert google["image_family"] == gce.family(PROFILE)  # where the backend and Terraform look
    for spelt in (ebs["tags"], labels):  # read back as the backends read their images: no channel yet
        image = Image("i", "i", details={"tags": spelt})
        assert tag_value(image, TAG_PROFILE) == PROFILE and channels.tested(image) and channel_marks(image) == {}


def test_packer_builders_are_left_to_packer(exported: tuple[dict, dict]) -> None:
    """Packer deletes its builder itself: without bootstrap's ownership tag, reap never touches it."""
    sources, _ = exported
    plan = build_plan(load_profile(PROFILE))
    builder = {TAG_PROFILE: PROFILE, TAG_HASH: plan.image_hash, TAG_ROLE: "builder"}
    assert sources["amazon-ebs"]["run_tags"] == ec2.tags(builder)
    assert sources["googlecompute"]["labels"] == gce.tags(builder)


def test_terraform_looks_up_the_names_the_backends_write(exported: tuple[dict, dict]) -> None:
    _, terraform = exported
    key = PROFILE.replace("-", "_")
    channel = f"${{var.{key}_channel}}"
    assert terraform["data"]["aws_ssm_parameter"][f"{key}_image"]["name"] == ec2.parameter(PROFILE, channel)
    lookup = terraform["data"]["google_compute_image"][f"{key}_image"]["filter"]
    assert lookup == (f'family = "{gce.family(PROFILE)}" AND labels.bootstrap-profile = "{PROFILE}" AND '
                      f"labels.{gce.CHANNEL_LABEL}{channel}:*")
    assert gce.channel_label("latest") == gce.CHANNEL_LABEL + "latest"  # the label point_channel moves


def test_terraform_tags_are_spelt_by_each_cloud(exported: tuple[dict, dict]) -> None:
    _, terraform = exported
    key = PROFILE.replace("-", "_")
    aws = terraform["resource"]["aws_launch_template"][key]["tags"]
    google = terraform["resource"]["google_compute_instance_template"][key]["labels"]
    assert aws[TAG_PROFILE] == PROFILE and ec2.tags(aws) == aws
    assert google == gce.tags(aws)
