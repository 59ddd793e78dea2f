"""Sharing golden images (issue 16, its first part): who, as the profile (`image.share`) or `--share` says,
checked before any call; on EC2 launch permission on every copy of the AMI and create-volume permission
on its snapshots, all or nothing. Against a moto server on 127.0.0.1."""

from __future__ import annotations

import pytest

from bootstrap.bake.backend import BakeStepError
from bootstrap.bake.lifecycle import BakeOptions
from bootstrap.cli import main
from bootstrap.clouds.sharing import parse, profile_shares

from .aws_fakes import Fail
from .test_bake_ec2 import OTHER_REGION, live_instances, make_backend, own_images, run_bake

ORG = "arn:aws:organizations::123456789012:organization/o-a1b2c3d4e5"
OU = "arn:aws:organizations::123456789012:ou/o-a1b2c3d4e5/ou-ab12-cdef3456"


@pytest.mark.parametrize("text,cloud,kind", [
    ("210987654321", "ec2", "account"), (ORG, "ec2", "organization"), (OU, "ec2", "ou"),
    ("arn:aws-us-gov:organizations::123456789012:organization/o-a1b2c3d4e5", "ec2", "organization"),
    ("user:ana@example.com", "gce", "member"), ("group:ml-team@example.com", "gce", "member"),
    ("serviceAccount:ci@my-project.iam.gserviceaccount.com", "gce", "member"), ("domain:example.com", "gce", "domain"),
])  # fmt: skip
def test_each_form_is_read(text: str, cloud: str, kind: str) -> None:
    principal = parse(text)
    assert (principal.cloud, principal.kind, principal.value) == (cloud, kind, text)


@pytest.mark.parametrize("text", [
    "12345678901", "1234567890123", "arn:aws:organizations::123:organization/o-abc", "ana@example.com", "user:ana",
    "domain:", "everyone", "all", " 123456789012"])  # fmt: skip
def test_malformed_principals_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not an EC2 account id"):
        parse(text)


def test_a_malformed_share_in_a_profile_is_exit_2_at_its_line(write_profile, capsys) -> None:
    path = write_profile("name: shared\nimage:\n  share:\n    - '123456789012'\n    - user:ana\n")
    assert main(["validate", str(path)]) == 2
    error = capsys.readouterr().err
    assert f"{path}:5:7" in error and "image.share[1]" in error and "GCE IAM member" in error


def test_a_malformed_share_flag_is_exit_2_before_anything(write_profile, tmp_path, capsys) -> None:
    path = write_profile("name: shared\n")
    assert main(["bake", str(path), "-o", str(tmp_path / "images"), "--share", "12345", "--dry-run"]) == 2
    assert "--share: '12345' is not an EC2 account id" in capsys.readouterr().err
    assert not (tmp_path / "images").exists()


def test_profile_and_command_line_shares_merge_once_each() -> None:
    data = {"image": {"share": ["123456789012", ORG]}}
    assert [p.value for p in profile_shares(data, ["123456789012", "user:ana@example.com"])] == [
        "123456789012", ORG, "user:ana@example.com"]  # fmt: skip


def test_sharing_never_changes_what_is_rendered_or_the_image_hash(write_profile) -> None:
    from bootstrap.planner import build_plan
    from bootstrap.profile import load_profile
    from bootstrap.targets import render

    plain = build_plan(load_profile(str(write_profile("name: box\npackages: [htop]\n", "a.yaml"))))
    shared = build_plan(load_profile(str(write_profile(
        "name: box\npackages: [htop]\nimage: {share: ['123456789012']}\n", "b.yaml"))))  # fmt: skip
    assert plain.image_hash == shared.image_hash
    assert render(plain, "ec2").data == render(shared, "ec2").data


def test_an_ec2_bake_shares_every_copy_and_its_snapshots(aws, ml_box) -> None:
    shares = tuple(profile_shares({}, ["210987654321", ORG, "user:ana@example.com"]))
    result, _, events = run_bake(aws, ml_box, options=BakeOptions(regions=(OTHER_REGION,), build_timeout=2,
                                                                test_timeout=2, share=shares))  # fmt: skip
    assert result.status == "built"
    for image in [result.image, *result.copies]:
        assert image is not None
        ec2 = aws.client("ec2", image.region)
        permissions = ec2.describe_image_attribute(ImageId=image.id, Attribute="launchPermission")
        assert {"UserId": "210987654321"} in permissions["LaunchPermissions"]
        assert {"OrganizationArn": ORG} in permissions["LaunchPermissions"]
        for snapshot in image.details["snapshots"]:
            volume = ec2.describe_snapshot_attribute(SnapshotId=snapshot, Attribute="createVolumePermission")
            assert volume["CreateVolumePermissions"] == [{"UserId": "210987654321"}]
    said = [(record["event"], record["message"]) for record in events.history]
    assert any(kind == "shared" and "210987654321" in text for kind, text in said)
    assert ("progress", "ml-box: not shared with user:ana@example.com: for another cloud's backend") in said


def test_a_failed_share_takes_back_what_it_gave(aws, ml_box) -> None:
    result, _, _ = run_bake(aws, ml_box)
    assert result.image is not None
    session = aws.session()
    Fail(session, "ec2", "ModifySnapshotAttribute", "InvalidParameterValue")
    backend = make_backend(aws, session)
    with pytest.raises(Exception, match="modify_snapshot_attribute"):
        backend.share(result.image, list(profile_shares({}, ["210987654321"])))
    permissions = aws.client("ec2").describe_image_attribute(ImageId=result.image.id, Attribute="launchPermission")
    assert permissions["LaunchPermissions"] == []  # never half shared


def test_a_bake_whose_share_fails_is_failed_and_leaves_no_image(aws, ml_box) -> None:
    shares = tuple(profile_shares({}, ["210987654321"]))

    def inject(session):
        Fail(session, "ec2", "ModifyImageAttribute", "InvalidAMIAttributeItemValue")

    with pytest.raises(BakeStepError) as caught:
        run_bake(aws, ml_box, options=BakeOptions(regions=(OTHER_REGION,), build_timeout=2, test_timeout=2,
                                                share=shares), setup=inject)  # fmt: skip
    assert caught.value.step == "share" and "InvalidAMIAttributeItemValue" in str(caught.value)
    assert own_images(aws) == [] and live_instances(aws) == []


def test_a_gce_bake_grants_image_user_to_the_members_in_one_policy(gce_bake) -> None:
    from .test_bake_gce import run

    _, compute, _ = gce_bake
    shares = tuple(profile_shares({}, ["group:ml@example.com", "domain:example.com", "210987654321"]))
    result, events = run(gce_bake, BakeOptions(build_timeout=1, test_timeout=1, share=shares))
    assert result.status == "built" and result.image
    policy = compute.images[f"team/{result.image.id}"]["iam"]
    assert policy["bindings"] == [{"role": "roles/compute.imageUser",
                                   "members": ["group:ml@example.com", "domain:example.com"]}]  # fmt: skip
    assert compute.calls.index("images.set_iam") < compute.calls.index("images.labels")  # shared, then promoted
    said = [record["message"] for record in events.history]
    assert "ml-box: not shared with 210987654321: for another cloud's backend" in said


def test_a_gce_share_the_api_refuses_fails_the_bake_and_leaves_no_image(gce_bake) -> None:
    from .gce_standin import Fault
    from .test_bake_gce import our_images, run

    _, compute, _ = gce_bake
    compute.faults["images.set_iam"] = Fault(status=400)
    with pytest.raises(BakeStepError) as caught:
        run(
            gce_bake,
            BakeOptions(build_timeout=1, test_timeout=1, share=tuple(profile_shares({}, ["user:a@example.com"]))),
        )
    assert caught.value.step == "share" and "images.setIamPolicy" in str(caught.value)
    assert our_images(compute) == [] and "images.labels" not in compute.calls  # never promoted, never shared


def test_the_local_backend_shares_nothing_and_says_so(write_profile, tmp_path, capsys) -> None:
    path = write_profile("name: shared\nimage: {share: ['group:ml@example.com', '123456789012']}\n")
    assert main(["bake", str(path), "-o", str(tmp_path / "images"), "--dry-run"]) == 0
    error = capsys.readouterr().err
    assert "not shared with group:ml@example.com, 123456789012: local images are files on this host" in error
