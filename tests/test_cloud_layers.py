"""The layer cache (#25) on EC2 (moto) and GCE (the Compute stand-in): a layer is an AMI / image of the
running builder, tagged (labelled) with its key, made at each layer point the builder's console shows,
after which the host tells the runner to go on (its instance tag / metadata bootstrap-layer=N, which the
guest simulations wait for as runner.sh.j2 does). The runner's side of that wait: tests/test_layer_wait.py."""

from __future__ import annotations

import time

import pytest

from bootstrap.bake.backend import (
    OWNER,
    ROLE_LAYER,
    TAG_CREATED,
    TAG_LAYER_BORN,
    TAG_LAYER_KEY,
    TAG_OWNER,
    TAG_PROFILE,
    TAG_ROLE,
    BakeStepError,
)
from bootstrap.bake.events import Quiet
from bootstrap.bake.lifecycle import BakeOptions, bake
from bootstrap.bake.pruning import prune_layers
from bootstrap.layers import image_layers
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile

from .aws_fakes import REGION, SOURCE_PARAMETER, Fail, FakeGuest, MotoServer, Recorder

DAY = 86400


def _plan(motd: str = ""):
    return build_plan(load_profile("base", [f"files.0.content={motd}"] if motd else []))


# -- EC2 -------------------------------------------------------------------------------------------------
def _ec2(aws: MotoServer, plan, setup=None):
    from bootstrap.clouds.ec2.backend import Ec2Backend

    session = aws.session()
    FakeGuest(aws, plan, {"builder": "layered", "test": "ok"}).attach(session)
    if setup:
        setup(session)
    return Ec2Backend(region=REGION, source=f"ssm:{SOURCE_PARAMETER}", endpoint_url=aws.endpoint, session=session,
                      poll_first=0.01, retry_first=0.001)  # fmt: skip


def _bake(backend, plan, **options):
    return bake(plan, backend, BakeOptions(build_timeout=5, test_timeout=2, **options), Quiet())


def _tags(data: dict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in data.get("Tags", [])}


def _layer_amis(aws: MotoServer) -> dict[str, dict]:
    images = aws.client("ec2").describe_images(Owners=["self"])["Images"]
    return {i["ImageId"]: i for i in images if _tags(i).get(TAG_ROLE) == ROLE_LAYER}


def test_ec2_a_first_bake_keeps_every_layer_and_a_change_to_the_last_step_reuses_the_rest(aws) -> None:
    plan = _plan()
    backend = _ec2(aws, plan)
    source = backend.resolve_source().id
    first = _bake(backend, plan)
    assert first.status == "built" and first.layers["reused"] == 0 and len(first.layers["made"]) == 3
    amis = _layer_amis(aws)
    assert sorted(amis) == sorted(first.layers["made"])
    chain = image_layers(plan, source, backend.layer_inputs())
    ec2 = aws.client("ec2")
    for index, layer_id in enumerate(first.layers["made"], 1):
        tags = _tags(amis[layer_id])
        assert tags[TAG_OWNER] == OWNER and tags[TAG_PROFILE] == "base" and tags[TAG_ROLE] == ROLE_LAYER
        assert tags[TAG_LAYER_KEY] == chain.layers[index - 1].key and tags["bootstrap:layer-index"] == str(index)
        assert amis[layer_id]["State"] == "available"
        for mapping in amis[layer_id]["BlockDeviceMappings"]:  # its snapshots carry the tags too (prune, reap)
            [snap] = ec2.describe_snapshots(SnapshotIds=[mapping["Ebs"]["SnapshotId"]])["Snapshots"]
            assert _tags(snap)[TAG_LAYER_KEY] == tags[TAG_LAYER_KEY]
    # The builder read its own tags from IMDS (InstanceMetadataTags) and was told each layer in turn.
    builders = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
                if _tags(i).get(TAG_ROLE) == "builder"]  # fmt: skip
    [builder] = builders
    assert builder["MetadataOptions"].get("InstanceMetadataTags") == "enabled"
    assert _tags(builder)["bootstrap-layer"] == "3"

    changed = _plan(motd="changed\n")
    second = _bake(_ec2(aws, changed), changed)
    assert second.layers["reused"] == 2 and second.layers["from"] == first.layers["made"][1]
    assert len(second.layers["made"]) == 1
    builders = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
                if _tags(i).get(TAG_ROLE) == "builder"]  # fmt: skip
    assert sorted(b["ImageId"] for b in builders) == sorted([source, first.layers["made"][1]])


def test_ec2_a_failed_layer_leaves_no_ami_or_snapshot(aws) -> None:
    plan = _plan()
    recorders = []

    def setup(session):
        recorders.append(Recorder(session))
        Fail(session, "ec2", "CreateTags", "InternalFailure", status=400)  # the guest is never told

    backend = _ec2(aws, plan, setup)
    with pytest.raises(BakeStepError, match="CreateTags"):
        _bake(backend, plan)
    assert _layer_amis(aws) == {}
    [recorder] = recorders
    assert recorder.images and recorder.leftover_snapshots(aws, (REGION,)) == []
    assert backend.find_layer(image_layers(plan, backend.resolve_source().id).layers[0].key, 0) is None


def test_ec2_prune_deletes_only_our_layers_of_the_profile(aws) -> None:
    plan = _plan()
    backend = _ec2(aws, plan)
    first = _bake(backend, plan)
    ec2 = aws.client("ec2")
    old = str(int(time.time() - 40 * DAY))
    # someone else's AMI tagged as a layer of ours, save the owner tag: never touched
    stranger = ec2.create_image(InstanceId=_any_instance(aws), Name="not-ours")["ImageId"]
    ec2.create_tags(Resources=[stranger], Tags=[{"Key": TAG_ROLE, "Value": ROLE_LAYER},
                                                {"Key": TAG_PROFILE, "Value": "base"},
                                                {"Key": TAG_LAYER_BORN, "Value": old}])  # fmt: skip
    expired = first.layers["made"][0]
    [data] = ec2.describe_images(ImageIds=[expired])["Images"]
    snapshots = [m["Ebs"]["SnapshotId"] for m in data["BlockDeviceMappings"]]
    ec2.create_tags(Resources=[expired], Tags=[{"Key": key, "Value": old} for key in (TAG_LAYER_BORN, TAG_CREATED)])
    needed = {la.key for la in image_layers(plan, backend.resolve_source().id, backend.layer_inputs()).layers}
    deleted = prune_layers(backend, "base", needed, Quiet(), grace_days=7, max_age_days=30)
    assert deleted == [expired]
    left = {i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]}
    assert stranger in left and expired not in left and set(first.layers["made"][1:]) <= left
    left_snapshots = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert snapshots and not set(snapshots) & left_snapshots  # delete_image takes a layer's snapshots with it


def _any_instance(aws: MotoServer) -> str:
    ec2 = aws.client("ec2")
    source = aws.client("ssm").get_parameter(Name=SOURCE_PARAMETER)["Parameter"]["Value"]
    return ec2.run_instances(ImageId=source, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]


# -- GCE -------------------------------------------------------------------------------------------------
@pytest.fixture
def compute(gce_server):
    pytest.importorskip("google.cloud.compute_v1")
    running, compute = gce_server
    compute.reset(behaviour={"builder": "layered", "test": "ok"})
    return running, compute


def _gce(running, **overrides):
    from google.auth.credentials import AnonymousCredentials

    from bootstrap.clouds.gce.backend import GceBackend

    settings = dict(project="team", zone="europe-west1-b", endpoint=running.endpoint,
                    source="projects/debian-cloud/global/images/family/debian-12",
                    credentials=AnonymousCredentials(), poll_first=0.01, retry_first=0.001)  # fmt: skip
    return GceBackend(**{**settings, **overrides})


def _layer_images(compute) -> dict[str, dict]:
    return {i["name"]: i for key, i in compute.images.items()
            if key.startswith("team/") and i["labels"].get("bootstrap-role") == ROLE_LAYER}  # fmt: skip


def test_gce_a_first_bake_keeps_every_layer_and_a_change_to_the_last_step_reuses_the_rest(compute) -> None:
    running, state = compute
    plan = _plan()
    backend = _gce(running)
    first = _bake(backend, plan)
    assert first.status == "built" and first.layers["reused"] == 0 and len(first.layers["made"]) == 3
    images = _layer_images(state)
    assert sorted(images) == sorted(first.layers["made"])
    chain = image_layers(plan, backend.resolve_source().id, backend.layer_inputs())
    for index, name in enumerate(first.layers["made"], 1):
        labels = images[name]["labels"]
        assert labels["bootstrap-owner"] == OWNER and labels["bootstrap-profile"] == "base"
        assert labels["bootstrap-layer-key"] == chain.layers[index - 1].key[:63]  # a label value's 63 characters
        assert labels["bootstrap-layer-index"] == str(index) and images[name]["family"] == ""  # no family serves it
        assert images[name]["sourceDisk"].endswith("/disks/" + images[name]["sourceDisk"].rsplit("/", 1)[1])
    inserts = [c for c in state.calls if c == "instances.metadata"]
    assert len(inserts) == 3  # the builder told after each layer

    changed = _plan(motd="changed\n")
    second = _bake(_gce(running), changed)
    assert second.layers["reused"] == 2 and second.layers["from"] == first.layers["made"][1]
    assert len(second.layers["made"]) == 1 and len(_layer_images(state)) == 4
    builders = [s for s in state.launched if "bootstrap-layer-" in s or "debian-12" in s]
    assert builders == [backend.resolve_source().id, f"projects/team/global/images/{first.layers['made'][1]}"]
    assert state.instances == {} and state.disks == {}


def test_gce_a_failed_layer_leaves_no_image(compute) -> None:
    from .gce_standin import Fault

    running, state = compute
    plan = _plan()
    state.faults["images.insert"] = Fault(operation_error="disk snapshot failed", times=1)
    with pytest.raises(BakeStepError, match="disk snapshot failed"):
        _bake(_gce(running), plan)
    assert _layer_images(state) == {} and state.instances == {}
    state.faults.clear()
    state.faults["instances.metadata"] = Fault(status=403)  # made, but the builder cannot be told: the bake fails
    with pytest.raises(BakeStepError, match="setMetadata"):
        _bake(_gce(running), plan)
    assert state.instances == {}


def test_gce_prune_deletes_only_our_layers_of_the_profile(compute) -> None:
    running, state = compute
    plan = _plan()
    backend = _gce(running)
    first = _bake(backend, plan)
    old = str(int(time.time() - 40 * DAY))
    expired = first.layers["made"][0]
    state.images[f"team/{expired}"]["labels"].update({"bootstrap-layer-born": old, "bootstrap-created": old})
    state.images["team/not-ours"] = {**state.images[f"team/{expired}"], "name": "not-ours",
                                     "labels": {k: v for k, v in state.images[f"team/{expired}"]["labels"].items()
                                                if k != "bootstrap-owner"}}  # fmt: skip
    needed = {la.key for la in image_layers(plan, backend.resolve_source().id, backend.layer_inputs()).layers}
    assert prune_layers(backend, "base", needed, Quiet(), grace_days=7, max_age_days=30) == [expired]
    assert "team/not-ours" in state.images and f"team/{expired}" not in state.images


def test_gce_with_cloud_init_user_data_keeps_no_layers(compute) -> None:
    from bootstrap.bake.backend import Capability, can

    running, _ = compute
    assert can(_gce(running), Capability.LAYERS) and not can(_gce(running, cloud_init=True), Capability.LAYERS)
