"""GCE machine images (issue 16): `bake -b gce --machine-image` also saves the sealed builder whole (its
disks, machine type, metadata with the startup-script), labelled like the image, shared with it, deleted
with it; a failure to save it fails the bake and leaves neither. Against the Compute stand-in."""

from __future__ import annotations

import pytest

from bootstrap.bake.backend import BakeStepError
from bootstrap.bake.events import Quiet
from bootstrap.bake.lifecycle import BakeOptions, bake
from bootstrap.cli import main
from bootstrap.clouds.sharing import profile_shares

from .gce_standin import Fault

pytest.importorskip("google.cloud.compute_v1")


def machine_backend(running):
    from .test_bake_gce import backend_for

    return backend_for(running, machine_image=True)


def test_a_bake_saves_the_sealed_builder_as_a_machine_image_shared_like_the_image(gce_bake) -> None:
    running, compute, plan = gce_bake
    shares = tuple(profile_shares({}, ["group:ml@example.com"]))
    result = bake(plan, machine_backend(running), BakeOptions(build_timeout=1, test_timeout=1, share=shares), Quiet())
    assert result.status == "built" and result.image
    saved = compute.machine_images[f"team/{result.image.id[:60]}-vm"]
    assert "/instances/bootstrap-builder-" in saved["sourceInstance"]
    assert saved["labels"]["bootstrap-profile"] == "ml-box"
    metadata = {i["key"]: i["value"] for i in saved["sourceInstanceProperties"]["metadata"]["items"]}
    assert "startup-script" in metadata  # the whole VM, its startup-script included
    assert compute.images[f"team/{result.image.id}"]["labels"]["bootstrap-machine-image"] == f"{result.image.id}-vm"
    for resource in (compute.images[f"team/{result.image.id}"], saved):
        assert resource["iam"]["bindings"] == [{"role": "roles/compute.imageUser", "members": ["group:ml@example.com"]}]


def test_a_failed_machine_image_fails_the_bake_and_leaves_no_image(gce_bake) -> None:
    from .test_bake_gce import our_images

    running, compute, plan = gce_bake
    compute.faults["machine.insert"] = Fault(operation_error="QUOTA_EXCEEDED: machine images")
    with pytest.raises(BakeStepError) as caught:
        bake(plan, machine_backend(running), BakeOptions(build_timeout=1, test_timeout=1), Quiet())
    assert caught.value.step == "image" and "machineImages.insert" in str(caught.value)
    assert our_images(compute) == [] and compute.machine_images == {} and compute.instances == {}


def test_prune_deletes_the_machine_image_with_its_image(gce_bake) -> None:
    running, compute, plan = gce_bake
    first = bake(plan, machine_backend(running), BakeOptions(build_timeout=1, test_timeout=1), Quiet())
    second = bake(plan, machine_backend(running), BakeOptions(force=True, keep=1, grace_days=0, build_timeout=1,
                                                              test_timeout=1), Quiet())  # fmt: skip
    assert second.pruned == [first.image.id]
    assert list(compute.machine_images) == [f"team/{second.image.id}-vm"]


def test_machine_image_is_for_gce_only(write_profile, tmp_path, capsys) -> None:
    path = write_profile("name: box\n")
    assert main(["bake", str(path), "-o", str(tmp_path / "images"), "--machine-image", "--dry-run"]) == 2
    assert "--machine-image is for -b gce" in capsys.readouterr().err


@pytest.mark.parametrize(("flag", "backend", "said"), [
    ("--copy-to=us-east-1", "local", "--copy-to is for -b ec2 (AMIs are regional): -b local makes no copies"),
    ("--copy-to=us-east-1", "gce", "--copy-to is for -b ec2 (AMIs are regional): -b gce makes no copies"),
    ("--gce-user-data", "local", "--gce-user-data is for -b gce; -b local has no GCE startup-script to replace "
                                 "(--target gce-user-data boots through GCE's cloud-init datasource)"),
    ("--gce-user-data", "ec2", "--gce-user-data is for -b gce; -b ec2 has no GCE startup-script to replace"),
])  # fmt: skip
def test_an_option_that_asks_for_another_cloud_s_work_is_refused_before_any_call(
        write_profile, tmp_path, capsys, flag: str, backend: str, said: str) -> None:  # fmt: skip
    """Nothing silent: a copy or a client asked of a backend that cannot do it is exit 2, not ignored (nor a
    backend failure at the copy step after the bake)."""
    path = write_profile("name: box\n")
    cloud_args = {"local": ["-o", str(tmp_path / "images")], "ec2": ["--source", "ami-1", "--region", "eu-west-1"],
                  "gce": ["--project", "p", "--zone", "europe-west1-b"]}[backend]  # fmt: skip
    assert main(["bake", str(path), "-b", backend, *cloud_args, flag, "--dry-run"]) == 2
    assert said in capsys.readouterr().err


def test_two_long_image_names_of_one_second_never_share_a_machine_image() -> None:
    from bootstrap.bake.lifecycle import NAME_LIMIT, image_name
    from bootstrap.clouds.gce.vocabulary import machine_image_name

    profile = "a-profile-name-long-enough-to-fill-gce-s-sixty-three-characters"
    names = {image_name(profile, "0" * 64, 1_800_000_000) for _ in range(64)}  # one second, one hash
    machines = {machine_image_name(name) for name in names}
    assert len(machines) == len(names) > 1 and all(len(m) <= NAME_LIMIT for m in machines)
    assert machine_image_name("bootstrap-box-1") == "bootstrap-box-1-vm"  # short names as before


def test_a_machine_image_is_deleted_by_the_name_its_label_records(gce_bake) -> None:
    """One named by an earlier release (its label says so) is still found, and deleted with its image."""
    from bootstrap.clouds.gce.vocabulary import TAG_MACHINE_IMAGE, label

    running, compute, plan = gce_bake
    first = bake(plan, machine_backend(running), BakeOptions(build_timeout=1, test_timeout=1), Quiet())
    old_name = "an-earlier-release-s-name-vm"
    compute.machine_images[f"team/{old_name}"] = compute.machine_images.pop(f"team/{first.image.id}-vm")
    compute.machine_images[f"team/{old_name}"]["name"] = old_name
    compute.images[f"team/{first.image.id}"]["labels"][label(TAG_MACHINE_IMAGE)] = old_name
    bake(plan, machine_backend(running), BakeOptions(force=True, keep=1, grace_days=0, build_timeout=1,
                                                     test_timeout=1), Quiet())  # fmt: skip
    assert f"team/{old_name}" not in compute.machine_images
