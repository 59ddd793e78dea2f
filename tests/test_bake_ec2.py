"""EC2 bakes through plain boto3 against a moto server on 127.0.0.1, with a simulated guest."""

from __future__ import annotations

import gzip
import time

import pytest

from bootstrap.bake.backend import BakeStepError
from bootstrap.bake.events import Quiet
from bootstrap.bake.lifecycle import BakeOptions, bake
from bootstrap.errors import BackendError

from .aws_fakes import REGION, SOURCE_PARAMETER, Fail, FakeGuest, MotoServer, Recorder, Throttle
from .conftest import ML_BOX

OTHER_REGION = "us-east-1"


@pytest.fixture
def plan(ml_box):
    return ml_box


def make_backend(aws: MotoServer, session, **overrides):
    from bootstrap.clouds.ec2.backend import Ec2Backend

    settings = dict(region=REGION, source=f"ssm:{SOURCE_PARAMETER}", regions=(OTHER_REGION,),
                    endpoint_url=aws.endpoint, session=session, poll_first=0.01, retry_first=0.001)  # fmt: skip
    settings.update(overrides)
    return Ec2Backend(**settings)


def run_bake(aws: MotoServer, plan, guest_behaviour=None, options=None, setup=None):
    session = aws.session()
    guest = FakeGuest(aws, plan, guest_behaviour or {"builder": "ok", "test": "ok"})
    guest.attach(session)
    if setup:
        setup(session)
    backend = make_backend(aws, session)
    events = Quiet()
    result = bake(plan, backend, options or BakeOptions(regions=(OTHER_REGION,), build_timeout=2, test_timeout=2),
                  events)  # fmt: skip
    return result, guest, events


def live_instances(aws: MotoServer) -> list[str]:
    found = []
    for region in (REGION, OTHER_REGION):
        pages = aws.client("ec2", region).describe_instances(
            Filters=[{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
        )["Reservations"]
        found += [i["InstanceId"] for r in pages for i in r["Instances"]]
    return found


def own_images(aws: MotoServer) -> list[str]:
    return [i["ImageId"] for region in (REGION, OTHER_REGION)
            for i in aws.client("ec2", region).describe_images(Owners=["self"])["Images"]]  # fmt: skip


def test_a_full_bake_images_tags_copies_promotes_and_leaves_no_machine(aws, plan) -> None:
    result, guest, events = run_bake(aws, plan)
    assert result.status == "built" and result.image and result.image.id.startswith("ami-")
    assert result.baked_steps == ["packages", "file-etc-team.conf"]
    ec2 = aws.client("ec2")
    [image] = ec2.describe_images(ImageIds=[result.image.id])["Images"]
    tags = {t["Key"]: t["Value"] for t in image["Tags"]}
    assert tags["bootstrap:profile"] == "ml-box" and tags["bootstrap:image-hash"] == plan.image_hash
    assert tags["bootstrap:source"].startswith("ami-") and tags["bootstrap:role"] == "image"
    for snapshot in result.image.details["snapshots"]:  # tagged after creation (moto cannot at creation)
        [snap] = ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"]
        assert {t["Key"]: t["Value"] for t in snap["Tags"]}["bootstrap:profile"] == "ml-box"
    [copy] = result.copies
    [copied] = aws.client("ec2", OTHER_REGION).describe_images(ImageIds=[copy.id])["Images"]
    assert {t["Key"]: t["Value"] for t in copied["Tags"]}["bootstrap:image-hash"] == plan.image_hash
    for region, image_id in ((REGION, result.image.id), (OTHER_REGION, copy.id)):
        parameter = aws.client("ssm", region).get_parameter(Name="/bootstrap/ml-box/latest")["Parameter"]
        assert parameter["Value"] == image_id
    assert live_instances(aws) == []
    # The builder booted the bake variant of the user data (gzipped when over EC2's limit).
    builder_data = [data for data in guest.user_data.values() if b"seal" in _plain(data)]
    assert builder_data and b"/usr/local/lib/bootstrap/seal" in _plain(builder_data[0])
    assert [e["event"] for e in events.history][:4] == ["layers", "launched", "waiting", "image"]  # layers: #25


def _plain(data: bytes) -> bytes:
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def test_dry_run_calls_no_mutating_api(aws, plan) -> None:
    def refuse(**kwargs):
        raise AssertionError(f"mutating call during --dry-run: {kwargs.get('event_name')}")

    def setup(session):
        for operation in ("RunInstances", "CreateImage", "CopyImage", "CreateTags", "TerminateInstances"):
            session.events.register(f"before-call.ec2.{operation}", refuse)

    result, _, events = run_bake(aws, plan, options=BakeOptions(dry_run=True), setup=setup)
    assert result.status == "planned"
    assert "would launch a ec2 builder from ami-" in events.history[-1]["message"]
    assert live_instances(aws) == [] and own_images(aws) == []


FAULTS = {
    "launch fails": ({}, lambda s: Fail(s, "ec2", "RunInstances", "InsufficientInstanceCapacity"), "launch",
                     "InsufficientInstanceCapacity"),
    "image creation fails": ({}, lambda s: Fail(s, "ec2", "CreateImage", "InvalidInstanceID.Malformed"), "image",
                             "InvalidInstanceID"),
    "new image fails its test": ({"test": "fail:cmd-hello"}, None, "test", "ended failed at step cmd-hello"),
    "copy fails": ({}, lambda s: Fail(s, "ec2", "CopyImage", "InvalidRequest"), "copy", "copy_image in us-east-1"),
}  # fmt: skip


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_fault_at_any_step_names_it_and_leaves_nothing_behind(aws, plan, fault) -> None:
    behaviour, inject, step, message = FAULTS[fault]
    recorders = []

    def setup(session):
        recorders.append(Recorder(session))
        if inject:
            inject(session)

    with pytest.raises(BakeStepError) as caught:
        run_bake(aws, plan, {"builder": "ok", "test": "ok", **behaviour}, setup=setup)
    assert caught.value.step == step and message in str(caught.value)
    assert live_instances(aws) == []
    assert own_images(aws) == []
    [recorder] = recorders
    if step in ("test", "copy"):
        assert recorder.images and recorder.snapshots  # there was something to clean up
    assert recorder.leftover_snapshots(aws, (REGION, OTHER_REGION)) == []


def test_a_throttling_storm_is_ridden_out(aws, plan) -> None:
    storms = []
    result, _, _ = run_bake(
        aws,
        plan,
        setup=lambda s: storms.extend(
            [Throttle(s, "RunInstances", 4), Throttle(s, "DescribeImages", 5), Throttle(s, "CreateImage", 3)]
        ),
    )
    assert result.status == "built"
    assert all(storm.left == 0 and storm.seen > 3 for storm in storms)
    assert live_instances(aws) == []


def test_reap_terminates_expired_builders_only(aws, plan) -> None:
    backend = make_backend(aws, aws.session())
    source = backend.resolve_source().id
    past, future = str(int(time.time()) - 10), str(int(time.time()) + 3600)
    ours = {"bootstrap:owner": "bootstrap"}
    machines = {
        "expired": {**ours, "bootstrap:role": "builder", "bootstrap:expires": past},
        "fresh": {**ours, "bootstrap:role": "test", "bootstrap:expires": future},
        "foreign": {"bootstrap:role": "builder", "bootstrap:expires": past, "Name": "bootstrap-builder-x"},
        "malformed": {**ours, "bootstrap:role": "builder", "bootstrap:expires": "1e999"},
        "no-expiry": {**ours, "bootstrap:role": "test"},
    }
    ids = {key: backend.launch("builder", source, b"#!/bin/sh\n", tags).id for key, tags in machines.items()}
    warnings: list[str] = []
    assert backend.reap(time.time(), dry_run=True, warn=warnings.append) == [f"{REGION}/{ids['expired']}"]
    assert sorted(live_instances(aws)) == sorted(ids.values())  # a dry run terminates nothing
    assert len(warnings) == 2 and all("is not a unix time" in w for w in warnings)
    assert backend.reap(time.time(), warn=warnings.append) == [f"{REGION}/{ids['expired']}"]
    assert sorted(live_instances(aws)) == sorted(ids[k] for k in machines if k != "expired")


def test_reap_dry_run_says_where_it_looked_and_what_is_not_yet_reapable(aws, capsys, monkeypatch) -> None:
    from bootstrap.cli import main

    backend = make_backend(aws, aws.session())
    source = backend.resolve_source().id
    soon = int(time.time()) + 1800
    tags = {"bootstrap:owner": "bootstrap", "bootstrap:role": "builder", "bootstrap:expires": str(soon)}
    fresh = backend.launch("builder", source, b"#!/bin/sh\n", tags).id
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    assert main(["reap", "-b", "ec2", "--endpoint-url", aws.endpoint, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"looked at ec2 ({REGION})" in out and "nothing to reap" in out
    assert f"not yet {REGION}/{fresh}: reapable at {time.strftime('%Y-%m-%dT%H:%M', time.gmtime(soon))}" in out
    assert "(in 30 min" in out and fresh in live_instances(aws)


def test_the_command_line_plans_an_ec2_bake_against_the_endpoint(aws, write_profile, monkeypatch, capsys) -> None:
    import json

    from bootstrap.cli import main

    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    profile = write_profile(ML_BOX)
    code = main(["bake", str(profile), "-b", "ec2", "--source", f"ssm:{SOURCE_PARAMETER}", "--endpoint-url",
                 aws.endpoint, "--dry-run", "--json"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out)
    assert summary["status"] == "planned" and summary["source"]["id"].startswith("ami-")
    assert json.loads(captured.err.splitlines()[-1])["event"] == "plan"
    assert main(["reap", "-b", "ec2", "--endpoint-url", aws.endpoint]) == 0
    assert "nothing to reap" in capsys.readouterr().out


def test_the_command_line_needs_a_source_and_a_region(monkeypatch, capsys, write_profile) -> None:
    from bootstrap.cli import main

    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    assert main(["bake", str(write_profile(ML_BOX)), "-b", "ec2"]) == 2
    assert "no region" in capsys.readouterr().err
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    assert main(["bake", str(write_profile(ML_BOX)), "-b", "ec2"]) == 2
    assert "pass --source" in capsys.readouterr().err


def test_no_aws_credentials_is_bad_input_with_a_hint(monkeypatch, tmp_path, capsys) -> None:
    from bootstrap.cli import main

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert main(["images", "list", "p", "-b", "ec2", "--region", REGION, "--endpoint-url", "http://127.0.0.1:9"]) == 2
    assert "no AWS credentials: configure them" in capsys.readouterr().err


def test_prune_keeps_the_image_a_channel_s_parameter_still_names(aws, plan) -> None:
    """A channel move cut between its tag and its SSM parameter (the parameter's write failed) leaves the
    tags saying the new image holds it while launches still resolve the old one: prune keeps the old."""
    from bootstrap.bake import channels
    from bootstrap.bake.pruning import prune

    first, _, _ = run_bake(aws, plan)
    channels.promote(make_backend(aws, aws.session()), "ml-box", "stable")
    second, _, _ = run_bake(aws, plan, options=BakeOptions(force=True, regions=(OTHER_REGION,), build_timeout=2,
                                                           test_timeout=2))  # fmt: skip
    assert first.image and second.image
    session = aws.session()
    Fail(session, "ssm", "PutParameter", "InternalServerError", 500)
    cut = make_backend(aws, session, retry_first=0.0001)
    with pytest.raises(BackendError):
        cut.point_channel(second.image, "ml-box", "stable")
    stable = aws.client("ssm").get_parameter(Name="/bootstrap/ml-box/stable")["Parameter"]["Value"]
    assert stable == first.image.id  # what a launch from stable resolves
    pruned = prune(make_backend(aws, aws.session()), "ml-box", 1, set(), Quiet(), grace_days=0)
    assert first.image.id not in pruned and first.image.id in own_images(aws)
