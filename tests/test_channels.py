"""Channels (issue 16): a stable name users launch from, moved only to tested images: `latest` with every
bake, others by `bootstrap images promote`, back by `images rollback`; prune never deletes an image a
channel points at.

Promote, rollback, refusals and prune are one contract for every backend (tests/test_image_contract.py);
their edge cases run here on the in-memory fake, in EC2's spelling (tags, a name per region) and GCE's
(labels, one holder each). The `images` command runs against moto (SSM parameters
/bootstrap/PROFILE/CHANNEL in every region); local channels are symlinks beside images on disk."""

from __future__ import annotations

import json
import re
import time

import pytest

from bootstrap.bake import channels
from bootstrap.bake.backend import BakeStepError
from bootstrap.bake.events import Quiet
from bootstrap.bake.lifecycle import BakeOptions, bake, prune
from bootstrap.cli import main
from bootstrap.errors import BackendError

from .aws_fakes import REGION, SOURCE_PARAMETER
from .conftest import ML_BOX as ML_BOX_PROFILE
from .fake_backend import FakeBackend
from .test_bake_ec2 import OTHER_REGION, run_bake


def parameter(aws, region: str, channel: str) -> str:
    return aws.client("ssm", region).get_parameter(Name=f"/bootstrap/ml-box/{channel}")["Parameter"]["Value"]


def forced(aws, plan, keep: int = 3):
    time.sleep(1.1)  # moto's image creation dates have one-second resolution
    result, _, _ = run_bake(aws, plan, options=BakeOptions(force=True, keep=keep, grace_days=0, regions=(OTHER_REGION,),
                                                           build_timeout=5, test_timeout=5))  # fmt: skip
    return result


def baked(fake: FakeBackend, count: int, **options: object) -> list[str]:
    """``count`` forced bakes of the fake's plan: their images' ids, oldest first."""
    made = []
    for _ in range(count):
        result = bake(fake.plan, fake, BakeOptions(force=True, keep=10, **options), Quiet())  # type: ignore[arg-type]
        assert result.image is not None
        made.append(result.image.id)
    return made


def test_gce_labels_keep_one_holder_and_the_former_holders_history(ml_box) -> None:
    fake = FakeBackend(ml_box, spelling="gce")
    first, second, third = baked(fake, 3)
    channels.promote(fake, "ml-box", "stable", image_id=first)
    channels.promote(fake, "ml-box", "stable", image_id=second)
    labels = {i: fake.images[i].details["tags"] for i in (first, second, third)}
    assert "bootstrap-channel-stable" not in labels[first] and "bootstrap-channel-was-stable" in labels[first]
    assert fake.launched_from("ml-box", "stable") == second and fake.launched_from("ml-box", "latest") == third
    assert [(a.id, b.id) for a, b in channels.rollback(fake, "ml-box", "stable")] == [(second, first)]
    assert "bootstrap-channel-was-stable" not in fake.images[first].details["tags"]  # the holder's mark is its own
    assert channels.holders(fake.list_images("ml-box")) == {first: ["stable"], third: ["latest"]}
    with pytest.raises(BakeStepError, match="images are global"):
        bake(ml_box, fake, BakeOptions(force=True, regions=("us-east1",)), Quiet())


def test_promote_from_another_channel_and_a_rollback_skips_the_same_image_pointed_again(ml_box) -> None:
    fake = FakeBackend(ml_box)
    first, second = baked(fake, 2, regions=("r2",))
    channels.promote(fake, "ml-box", "beta", image_id=first)
    channels.promote(fake, "ml-box", "stable", source="beta")  # r1 only: beta holds nothing in r2
    assert fake.launched_from("ml-box", "stable") == first and fake.launched_from("ml-box", "stable", "r2") is None
    channels.promote(fake, "ml-box", "stable", image_id=second)
    channels.promote(fake, "ml-box", "stable", image_id=second)  # twice: one step of history, not two
    assert [(a.id, b.id) for a, b in channels.rollback(fake, "ml-box", "stable")] == [(second, first)]
    with pytest.raises(BackendError, match="channel nightly of ml-box points at no image yet"):
        channels.promote(fake, "ml-box", "stable", source="nightly")


def test_prune_keeps_every_region_a_channel_holds_and_deletes_the_rest(ml_box) -> None:
    fake = FakeBackend(ml_box)
    first, second, third = baked(fake, 3, regions=("r2",))
    [first_copy] = [i.id for i in fake.images.values() if i.region == "r2" and i.name == fake.images[first].name]
    channels.promote(fake, "ml-box", "stable", image_id=first_copy)  # stable in r2 only
    events = Quiet()
    pruned = prune(fake, "ml-box", 1, set(), events, grace_days=0)
    assert first in pruned and second in pruned and first_copy not in pruned and third not in pruned
    assert [e["image"] for e in events.history if e["event"] == "kept"] == [first_copy]
    assert channels.holders(fake.list_images("ml-box"))[first_copy] == ["stable"]


def test_the_images_command_lists_promotes_and_rolls_back(aws, ml_box, monkeypatch, capsys) -> None:
    first, _, _ = run_bake(aws, ml_box)
    second = forced(aws, ml_box)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint)
    base = ["-b", "ec2", "--region", REGION, "--endpoint-url", aws.endpoint]
    assert main(["images", "promote", "ml-box", "--channel", "stable", "--image", first.image.id, *base]) == 0
    assert f"channel stable in {REGION} -> {first.image.id}" in capsys.readouterr().out
    assert main(["images", "promote", "ml-box", "--channel", "stable", *base]) == 0
    capsys.readouterr()
    assert main(["images", "list", "ml-box", *base]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split() == ["image", "region", "hash", "state", "age", "channels"] and len(lines) == 2
    starts = [found.start() for found in re.finditer(r"\S+", header)][1:]
    for line in lines:  # every column where its header is, whatever the names' lengths
        assert all(line[at - 2: at] == "  " and line[at] != " " for at in starts), (header, line)
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
    """docs/rebuild.md says a channel moves in every region: without --region, images finds them from the image
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
