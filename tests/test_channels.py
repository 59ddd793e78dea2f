"""Channels (issue 16): a stable name users launch from, moved only to tested images: `latest` with every
bake, others by `bootstrap images promote`, back by `images rollback`; prune never deletes an image a
channel points at. EC2 against moto (SSM parameters /bootstrap/PROFILE/CHANNEL in every region), GCE
against the Compute stand-in (labels), local with images on disk (symlinks)."""

from __future__ import annotations

import json
import time

import pytest

from bootstrap.bake import channels
from bootstrap.bake.events import Quiet
from bootstrap.bake.lifecycle import BakeOptions, bake
from bootstrap.cli import main
from bootstrap.errors import BackendError, UsageError

from .aws_fakes import REGION, SOURCE_PARAMETER
from .conftest import ML_BOX as ML_BOX_PROFILE
from .test_bake_ec2 import OTHER_REGION, make_backend, own_images, run_bake


def parameter(aws, region: str, channel: str) -> str:
    return aws.client("ssm", region).get_parameter(Name=f"/bootstrap/ml-box/{channel}")["Parameter"]["Value"]


def forced(aws, plan, keep: int = 3):
    time.sleep(1.1)  # moto's image creation dates have one-second resolution
    result, _, _ = run_bake(aws, plan, options=BakeOptions(force=True, keep=keep, grace_days=0, regions=(OTHER_REGION,),
                                                           build_timeout=5, test_timeout=5))  # fmt: skip
    return result


def test_ec2_promote_then_rollback_moves_the_ssm_parameter_in_every_region(aws, ml_box) -> None:
    first, _, _ = run_bake(aws, ml_box)
    backend = make_backend(aws, aws.session())
    moved = channels.promote(backend, "ml-box", "stable")
    assert sorted(i.id for i in moved) == sorted([first.image.id, first.copies[0].id])
    second = forced(aws, ml_box)
    assert parameter(aws, REGION, "latest") == second.image.id
    assert parameter(aws, REGION, "stable") == first.image.id  # a bake moves latest only
    channels.promote(backend, "ml-box", "stable")
    assert parameter(aws, REGION, "stable") == second.image.id
    assert parameter(aws, OTHER_REGION, "stable") == second.copies[0].id
    back = channels.rollback(backend, "ml-box", "stable")
    assert {(a.id, b.id) for a, b in back} == {(second.image.id, first.image.id),
                                              (second.copies[0].id, first.copies[0].id)}  # fmt: skip
    assert parameter(aws, REGION, "stable") == first.image.id


def test_prune_keeps_what_a_channel_points_at(aws, ml_box) -> None:
    first, _, _ = run_bake(aws, ml_box)
    channels.promote(make_backend(aws, aws.session()), "ml-box", "stable")
    second = forced(aws, ml_box, keep=1)
    assert second.pruned == []  # stable still points at the first image in both regions
    assert sorted(own_images(aws)) == sorted([first.image.id, first.copies[0].id, second.image.id,
                                              second.copies[0].id])  # fmt: skip


def test_only_tested_images_move_and_bad_channels_are_refused(aws, ml_box) -> None:
    backend = make_backend(aws, aws.session())
    with pytest.raises(BackendError, match="points at no image yet"):
        channels.promote(backend, "ml-box", "stable")
    first, _, _ = run_bake(aws, ml_box)
    with pytest.raises(BackendError, match="nothing to roll back to"):
        channels.rollback(backend, "ml-box", "latest")
    with pytest.raises(UsageError, match="channel 'Stable!'"):
        channels.promote(backend, "ml-box", "Stable!")
    ec2 = aws.client("ec2")
    ec2.delete_tags(Resources=[first.image.id], Tags=[{"Key": "bootstrap:promoted"}])  # as a killed bake leaves it
    with pytest.raises(BackendError, match="never passed its test"):
        channels.promote(backend, "ml-box", "stable", image_id=first.image.id)


def test_the_images_command_lists_promotes_and_rolls_back(aws, ml_box, monkeypatch, capsys) -> None:
    first, _, _ = run_bake(aws, ml_box)
    second = forced(aws, ml_box)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint)
    base = ["-b", "ec2", "--region", REGION, "--endpoint-url", aws.endpoint]
    assert main(["images", "promote", "ml-box", "--channel", "stable", "--image", first.image.id, *base]) == 0
    assert f"channel stable in {REGION} -> {first.image.id}" in capsys.readouterr().out
    assert main(["images", "promote", "ml-box", "--channel", "stable", *base]) == 0
    assert main(["images", "list", "ml-box", "--json", *base]) == 0
    capsys.readouterr()
    assert main(["images", "list", "ml-box", "--json", *base]) == 0
    rows = {r["image"]: r for r in json.loads(capsys.readouterr().out)["images"] if r["region"] == REGION}
    assert rows[second.image.id]["channels"] == ["latest", "stable"] and rows[second.image.id]["tested"]
    assert rows[first.image.id]["channels"] == [] and rows[first.image.id]["history"] == ["latest", "stable"]
    assert rows[first.image.id]["state"] == "available" and rows[first.image.id]["shared_with"] == []
    assert main(["images", "rollback", "ml-box", "--channel", "stable", *base]) == 0
    assert f"-> {first.image.id} (was {second.image.id})" in capsys.readouterr().out
    assert main(["images", "rollback", "ml-box", "--channel", "nightly", *base]) == 3  # a backend error, said
    assert "channel nightly of ml-box points at no image" in capsys.readouterr().err
    assert SOURCE_PARAMETER


def test_gce_channels_are_labels_and_roll_back(gce_bake) -> None:
    from .test_bake_gce import backend_for

    running, compute, plan = gce_bake
    first = bake(plan, backend_for(running), BakeOptions(build_timeout=1, test_timeout=1), Quiet())
    channels.promote(backend_for(running), "ml-box", "stable")
    second = bake(plan, backend_for(running), BakeOptions(force=True, build_timeout=1, test_timeout=1), Quiet())
    backend = backend_for(running)
    assert channels.holders(backend.list_images("ml-box")) == {first.image.id: ["stable"],
                                                               second.image.id: ["latest"]}  # fmt: skip
    channels.promote(backend, "ml-box", "stable")
    assert channels.holders(backend.list_images("ml-box"))[second.image.id] == ["latest", "stable"]
    channels.rollback(backend, "ml-box", "stable")
    labels = compute.images[f"team/{first.image.id}"]["labels"]
    assert "bootstrap-channel-stable" in labels
    # one holder per channel label (Terraform's export filters on it); the former keeps was-stable
    holding = [i["name"] for k, i in compute.images.items() if "bootstrap-channel-stable" in i["labels"]]
    assert holding == [first.image.id]
    assert "bootstrap-channel-was-stable" in compute.images[f"team/{second.image.id}"]["labels"]
    assert channels.holders(backend.list_images("ml-box"))[first.image.id] == ["stable"]


def local_images(output) -> None:
    """Two tested local images of profile box on disk, the second holding latest."""
    from bootstrap.bake.backend import TAG_OWNER, TAG_PROFILE, TAG_PROMOTED, TAG_ROLE

    output.mkdir()
    for number, name in enumerate(("bootstrap-box-1", "bootstrap-box-2"), start=1):
        (output / f"{name}.qcow2").write_bytes(b"disk")
        tags = {TAG_OWNER: "bootstrap", TAG_PROFILE: "box", TAG_ROLE: "image", TAG_PROMOTED: "1",
                "bootstrap:channel:latest": str(number)}  # fmt: skip
        (output / f"{name}.json").write_text(json.dumps({"format": "bootstrap-local-image", "name": name,
                                                         "created": number, "disk": f"{name}.qcow2",
                                                         "tags": tags}))  # fmt: skip


def test_local_channels_are_symlinks(tmp_path, capsys) -> None:
    output = tmp_path / "images"
    local_images(output)
    assert main(["images", "promote", "box", "--channel", "stable", "-o", str(output)]) == 0
    assert (output / "box-stable.qcow2").resolve() == (output / "bootstrap-box-2.qcow2")
    assert main(["images", "promote", "box", "--channel", "stable", "--image", "bootstrap-box-1", "-o",
                 str(output)]) == 0  # fmt: skip
    assert main(["images", "rollback", "box", "--channel", "stable", "-o", str(output)]) == 0
    assert (output / "box-stable.qcow2").resolve() == (output / "bootstrap-box-2.qcow2")
    assert "-> bootstrap-box-2 (was bootstrap-box-1)" in capsys.readouterr().out


def test_ec2_prune_deprecates_first_and_deletes_after_the_grace_period(aws, ml_box) -> None:
    """moto 5.2 has no EnableImageDeprecation: simulated at the botocore layer (tests/aws_fakes.Simulated);
    the tag prune counts the grace period from is real (moto)."""
    from bootstrap.bake.lifecycle import deprecated_at, prune

    from .aws_fakes import Simulated

    deprecations: list[Simulated] = []

    def simulate(session):
        deprecations.append(Simulated(session, "EnableImageDeprecation"))

    first, _, _ = run_bake(aws, ml_box)
    time.sleep(1.1)
    second, _, _ = run_bake(aws, ml_box, options=BakeOptions(force=True, keep=1, grace_days=7, build_timeout=5,
                                                             test_timeout=5, regions=(OTHER_REGION,)),
                            setup=simulate)  # fmt: skip
    assert second.pruned == []  # deprecated, not deleted
    [simulated] = deprecations
    assert sorted(r["ImageId"] for r in simulated.requests) == sorted([first.image.id, first.copies[0].id])
    assert all(r["DeprecateAt"] for r in simulated.requests)
    backend = make_backend(aws, aws.session())
    [old] = [i for i in backend.list_images("ml-box") if i.id == first.image.id]
    since = deprecated_at(old)
    assert since is not None
    assert prune(backend, "ml-box", 1, set(), Quiet(), grace_days=7, now=since + 86400) == []
    later = prune(backend, "ml-box", 1, set(), Quiet(), grace_days=7, now=since + 8 * 86400)
    assert sorted(later) == sorted([first.image.id, first.copies[0].id])
    assert sorted(own_images(aws)) == sorted([second.image.id, second.copies[0].id])


def test_gce_prune_deprecates_with_the_replacement(gce_bake) -> None:
    from .test_bake_gce import backend_for

    running, compute, plan = gce_bake
    first = bake(plan, backend_for(running), BakeOptions(build_timeout=1, test_timeout=1), Quiet())
    second = bake(plan, backend_for(running), BakeOptions(force=True, keep=1, build_timeout=1, test_timeout=1),
                  Quiet())  # fmt: skip
    assert second.pruned == []
    old = compute.images[f"team/{first.image.id}"]
    assert old["deprecated"]["state"] == "DEPRECATED" and old["deprecated"]["replacement"].endswith(second.image.id)
    assert "bootstrap-deprecated" in old["labels"]


def test_images_deprecate_and_delete_act_only_on_what_no_channel_holds(tmp_path, capsys) -> None:
    output = tmp_path / "images"
    local_images(output)
    where = ["-o", str(output)]
    assert main(["images", "deprecate", "box", "--image", "bootstrap-box-1", *where]) == 0
    manifest = json.loads((output / "bootstrap-box-1.json").read_text())
    assert manifest["tags"]["bootstrap:deprecated"] and manifest["replacement"] == "bootstrap-box-2"
    assert main(["images", "delete", "box", "--image", "bootstrap-box-2", *where]) == 3  # latest points at it
    assert "channel latest points at" in capsys.readouterr().err
    assert main(["images", "delete", "box", "--image", "bootstrap-box-1", "--dry-run", *where]) == 0
    assert (output / "bootstrap-box-1.qcow2").exists()
    assert main(["images", "delete", "box", "--image", "bootstrap-box-1", *where]) == 0
    assert not (output / "bootstrap-box-1.qcow2").exists() and (output / "bootstrap-box-2.qcow2").exists()
    assert main(["images", "delete", "box", "--image", "not-ours", *where]) == 3
    assert "no image not-ours of box made by bootstrap" in capsys.readouterr().err


def test_images_share_shares_what_latest_points_at(aws, ml_box, capsys) -> None:
    first, _, _ = run_bake(aws, ml_box)
    base = ["-b", "ec2", "--region", REGION, "--endpoint-url", aws.endpoint]
    assert main(["images", "share", "ml-box", "--share", "210987654321", "--share", "user:a@example.com", *base]) == 0
    captured = capsys.readouterr()
    assert f"{first.image.id}: shared with 210987654321" in captured.out and "not shared with user:a" in captured.err
    permissions = aws.client("ec2").describe_image_attribute(ImageId=first.image.id, Attribute="launchPermission")
    assert permissions["LaunchPermissions"] == [{"UserId": "210987654321"}]
    assert main(["images", "share", "ml-box", "--share", "12", *base]) == 2  # malformed: before any call


@pytest.mark.parametrize("order", [("stable", "was-stable"), ("was-stable", "stable")])
def test_a_channel_mark_is_the_newest_whatever_the_label_order(order: tuple[str, str]) -> None:
    """An image pointed at a channel, moved off it and back (a rollback) carried both labels for a moment;
    the mark read depended on the labels' order, and a rollback in the test suite flaked on it."""
    from bootstrap.bake.backend import Image, channel_marks

    values = {"stable": "5", "was-stable": "3"}
    image = Image("img", "img", details={"tags": {f"bootstrap-channel-{k}": values[k] for k in order}})
    assert channel_marks(image) == {"stable": 5}


def test_images_commands_act_on_every_region_the_image_was_copied_to(aws, ml_box, monkeypatch, capsys,
                                                                     write_profile) -> None:  # fmt: skip
    """README says a channel moves in every region: without --region, images finds them from the image
    itself; --region narrows. A profile's path is taken for its name."""
    result = forced(aws, ml_box)
    copy = result.copies[0]
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    endpoint = ["-b", "ec2", "--endpoint-url", aws.endpoint]
    profile = write_profile(ML_BOX_PROFILE, "ml-box.yaml")
    assert main(["images", "list", str(profile), "--json", *endpoint]) == 0
    listed = {(r["region"], r["image"]) for r in json.loads(capsys.readouterr().out)["images"]}
    assert listed == {(REGION, result.image.id), (OTHER_REGION, copy.id)}
    assert main(["images", "promote", "ml-box", "--channel", "stable", *endpoint]) == 0
    out = capsys.readouterr().out
    assert f"in {REGION} -> {result.image.id}" in out and f"in {OTHER_REGION} -> {copy.id}" in out
    assert parameter(aws, REGION, "stable") == result.image.id and parameter(aws, OTHER_REGION, "stable") == copy.id
    assert main(["images", "list", "ml-box", "--json", "--region", OTHER_REGION, *endpoint]) == 0
    assert {r["region"] for r in json.loads(capsys.readouterr().out)["images"]} == {OTHER_REGION}
    assert main(["images", "list", "no/such/profile.yaml", *endpoint]) == 2
