"""GCE bakes through the real google-cloud-compute client (REST) against a stand-in on 127.0.0.1."""

from __future__ import annotations

import pytest

from bootstrap.bake.backend import BakeStepError
from bootstrap.bake.channels import holders
from bootstrap.bake.events import Quiet
from bootstrap.bake.lifecycle import BakeOptions, bake
from bootstrap.errors import BackendError
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile

from .gce_standin import PUBLIC_FAMILY, PUBLIC_PROJECT, Compute, Fault

pytest.importorskip("google.cloud.compute_v1")

PROFILE = """\
name: ml-box
packages: [htop]
commands:
  first_boot: [{name: hello, run: echo hello}]
  every_boot: [{name: tick, run: date}]
"""
ZONE = "europe-west1-b"
SOURCE = f"projects/{PUBLIC_PROJECT}/global/images/family/{PUBLIC_FAMILY}"
MUTATING = ("instances.insert", "instances.delete", "instances.stop", "images.insert", "images.delete",
            "images.deprecate", "images.labels")  # fmt: skip


@pytest.fixture
def gce(gce_server, write_profile):
    running, compute = gce_server
    plan = build_plan(load_profile(str(write_profile(PROFILE))))
    compute.reset()
    return running, compute, plan


def backend_for(running, **overrides):
    from google.auth.credentials import AnonymousCredentials

    from bootstrap.clouds.gce.backend import GceBackend

    settings = dict(project="team", zone=ZONE, source=SOURCE, endpoint=running.endpoint,
                    credentials=AnonymousCredentials(), poll_first=0.01, retry_first=0.001)  # fmt: skip
    settings.update(overrides)
    return GceBackend(**settings)


def run(gce, options=None):
    running, _, plan = gce
    events = Quiet()
    result = bake(plan, backend_for(running), options or BakeOptions(build_timeout=1, test_timeout=1), events)
    return result, events


def our_images(compute: Compute) -> list[str]:
    return sorted(i["name"] for key, i in compute.images.items() if key.startswith("team/"))


def test_a_full_bake_labels_the_image_in_its_family_and_deletes_its_machines(gce) -> None:
    _, compute, plan = gce
    result, events = run(gce)
    assert result.status == "built" and result.image
    image = compute.images[f"team/{result.image.id}"]
    assert image["family"] == "bootstrap-ml-box"
    assert image["labels"]["bootstrap-profile"] == "ml-box"
    assert image["labels"]["bootstrap-image-hash"] == plan.image_hash
    assert image["labels"]["bootstrap-source"] == "debian-12-bookworm-v20261101"
    assert image["sourceDisk"].endswith("/zones/europe-west1-b/disks/" + image["sourceDisk"].rsplit("/", 1)[1])
    assert compute.instances == {} and compute.disks == {}
    assert result.baked_steps == ["packages"]
    assert [e["event"] for e in events.history] == ["layers", "launched", "waiting", "image", "deleted", "launched",
                                                    "deleted", "tested", "promoted"]  # fmt: skip
    # The builder ran the bake variant of the startup script; the test instance the normal one.
    inserts = [c for c in compute.calls if c == "instances.insert"]
    assert len(inserts) == 2


def test_builder_gets_the_bake_variant_and_the_test_instance_the_normal_one(gce) -> None:
    _, compute, _ = gce
    scripts: dict[str, str] = {}
    original = compute.do_instances_insert

    def spy(project, zone, query, body, error):
        scripts[body["labels"]["bootstrap-role"]] = body["metadata"]["items"][0]["value"]
        return original(project, zone, query=query, body=body, error=error)

    compute.do_instances_insert = spy
    run(gce)
    assert "/usr/local/lib/bootstrap/seal" in scripts["builder"] and "runner bake" in scripts["builder"]
    assert "/usr/local/lib/bootstrap/seal" not in scripts["test"] and "runner boot" in scripts["test"]


def test_unchanged_skips_force_rebuilds_and_prunes(gce) -> None:
    _, compute, _ = gce
    first, _ = run(gce)
    calls_before = len(compute.calls)
    again, _ = run(gce)
    assert again.status == "unchanged" and again.image.id == first.image.id
    assert not [c for c in compute.calls[calls_before:] if c in MUTATING]
    forced, _ = run(gce, BakeOptions(force=True, keep=2, grace_days=0, build_timeout=1, test_timeout=1))
    assert "deprecated" not in compute.images[f"team/{first.image.id}"]  # within --keep: left alone
    third, _ = run(gce, BakeOptions(force=True, keep=2, grace_days=0, build_timeout=1, test_timeout=1))
    assert third.pruned == [first.image.id]
    assert our_images(compute) == sorted([forced.image.id, third.image.id])


def test_promotion_deprecates_nothing_prune_is_the_one_deprecation_policy(gce) -> None:
    """The family serves its newest image anyway; deprecating the older ones is prune's (beyond --keep,
    then deleted after --grace), not promotion's, which once deprecated the whole family at every bake."""
    _, compute, _ = gce
    first, _ = run(gce)
    second, _ = run(gce, BakeOptions(force=True, keep=3, grace_days=7, build_timeout=1, test_timeout=1))
    assert "deprecated" not in compute.images[f"team/{first.image.id}"]
    assert "images.deprecate" not in compute.calls
    run(gce, BakeOptions(force=True, keep=1, grace_days=7, build_timeout=1, test_timeout=1))
    older = [compute.images[f"team/{r.image.id}"] for r in (first, second)]
    assert [o["deprecated"]["state"] for o in older] == ["DEPRECATED", "DEPRECATED"]
    assert all("bootstrap-deprecated" in o["labels"] for o in older)  # prune's: its grace period counts


def test_dry_run_calls_no_mutating_api(gce) -> None:
    _, compute, _ = gce
    result, events = run(gce, BakeOptions(dry_run=True))
    assert result.status == "planned" and "would launch a gce builder" in events.history[-1]["message"]
    assert not [c for c in compute.calls if c in MUTATING]


FAULTS = {
    "launch refused": ({}, {"instances.insert": Fault(status=403)}, "launch", "403"),
    "launch fails in its operation": ({}, {"instances.insert": Fault(operation_error="ZONE_RESOURCE_POOL_EXHAUSTED")},
                                      "launch", "ZONE_RESOURCE_POOL_EXHAUSTED"),
    "image creation fails quietly": ({}, {"images.insert": Fault(operation_error="QUOTA_EXCEEDED")}, "image",
                                     "QUOTA_EXCEEDED"),
}  # fmt: skip


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_fault_at_any_step_names_it_and_leaves_nothing_behind(gce, fault) -> None:
    _, compute, _ = gce
    behaviour, faults, step, message = FAULTS[fault]
    compute.behaviour.update(behaviour)
    compute.faults.update(faults)
    with pytest.raises(BakeStepError) as caught:
        run(gce)
    assert caught.value.step == step and message in str(caught.value)
    assert compute.instances == {} and compute.disks == {}
    assert our_images(compute) == []


def test_a_throttling_storm_is_ridden_out(gce) -> None:
    _, compute, _ = gce
    compute.faults.update({"instances.insert": Fault(status=429, times=3), "images.insert": Fault(status=503, times=2),
                           "instances.get": Fault(status=429, times=4)})  # fmt: skip
    result, _ = run(gce)
    assert result.status == "built"
    assert all(f.times == 0 for f in compute.faults.values())
    assert compute.instances == {}


def test_reap_deletes_expired_machines_only(gce) -> None:
    import time

    running, compute, _ = gce
    backend = backend_for(running)
    source = backend.resolve_source().id
    past, future = str(int(time.time()) - 5), str(int(time.time()) + 3600)
    ours = {"bootstrap:owner": "bootstrap"}
    machines = {
        "expired": {**ours, "bootstrap:role": "builder", "bootstrap:expires": past},
        "young": {**ours, "bootstrap:role": "test", "bootstrap:expires": future},
        "foreign": {"bootstrap:role": "builder", "bootstrap:expires": past},  # no ownership label: not ours
        "malformed": {**ours, "bootstrap:role": "builder", "bootstrap:expires": "tomorrow"},
        "no-expiry": {**ours, "bootstrap:role": "builder"},
        "an-image-role": {**ours, "bootstrap:role": "image", "bootstrap:expires": past},
    }
    ids = {key: backend.launch("builder", source, b"#!/bin/sh\n", tags).id for key, tags in machines.items()}
    warnings: list[str] = []
    assert backend.reap(time.time(), dry_run=True, warn=warnings.append) == [f"{ZONE}/{ids['expired']}"]
    assert len(compute.instances) == len(machines)  # a dry run deletes nothing
    assert len(warnings) == 2 and all("is not a unix time" in w for w in warnings)
    assert backend.reap(time.time(), warn=warnings.append) == [f"{ZONE}/{ids['expired']}"]
    assert sorted(compute.instances) == sorted(f"{ZONE}/{ids[k]}" for k in machines if k != "expired")


def test_copying_to_regions_is_refused_for_global_images(gce) -> None:
    with pytest.raises(BakeStepError) as caught:
        run(gce, BakeOptions(regions=("us-east1",), build_timeout=1, test_timeout=1))
    assert caught.value.step == "copy" and "global" in str(caught.value)
    _, compute, _ = gce
    assert our_images(compute) == [] and compute.instances == {}


def test_rebuild_bakes_what_changed_and_fails_only_after_the_others(gce, tmp_path, monkeypatch, capsys) -> None:
    import json

    from bootstrap.cli import main

    running, compute, _ = gce
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "alpha.yaml").write_text("name: alpha\npackages: [htop]\n")
    (folder / "beta.yaml").write_text("name: beta\nextends: [alpha]\ncommands: {first_boot: [echo beta]}\n")
    (folder / "gamma.yaml").write_text("name: gamma\npackages: [tmux]\n")
    (folder / "broken.yaml").write_text("name: broken\npackages: htop\n")
    compute.behaviour["builder:gamma"] = "fail:packages"
    monkeypatch.setenv("BOOTSTRAP_GCE_CREDENTIALS", "anonymous")
    manifest = tmp_path / "images.json"
    command = ["rebuild", str(folder), "-b", "gce", "--project", "team", "--zone", ZONE, "--endpoint-url",
               running.endpoint, "--manifest", str(manifest), "--jobs", "3", "--timeout", "5"]  # fmt: skip
    assert main(command) == 3  # a bake failed in its backend: the exit-code table
    lines = capsys.readouterr().out.splitlines()
    statuses = {line.split()[1].rsplit("/", 1)[-1]: line.split()[0] for line in lines}
    assert statuses == {"alpha.yaml": "built", "beta.yaml": "built", "broken.yaml": "failed", "gamma.yaml": "failed"}
    recorded = json.loads(manifest.read_text())["profiles"]
    assert sorted(recorded) == ["alpha", "beta"]
    [(image_hash, entry)] = recorded["alpha"].items()
    assert image_hash == build_plan(load_profile(str(folder / "alpha.yaml"))).image_hash
    assert entry["gce"]["-"].startswith("bootstrap-alpha-")
    assert entry["sources"]["gce"].endswith("debian-12-bookworm-v20261101")
    assert compute.instances == {} and len(our_images(compute)) == 2

    (folder / "broken.yaml").unlink()
    del compute.behaviour["builder:gamma"]
    assert main(command) == 0
    statuses = {line.split()[1].rsplit("/", 1)[-1]: line.split()[0] for line in capsys.readouterr().out.splitlines()}
    assert statuses == {"alpha.yaml": "unchanged", "beta.yaml": "unchanged", "gamma.yaml": "built"}
    assert sorted(json.loads(manifest.read_text())["profiles"]) == ["alpha", "beta", "gamma"]


def test_images_with_cloud_init_get_cloud_init_user_data(gce) -> None:
    running, compute, plan = gce
    keys: dict[str, list[str]] = {}
    original = compute.do_instances_insert

    def spy(project, zone, query, body, error):
        keys[body["labels"]["bootstrap-role"]] = [i["key"] for i in body["metadata"]["items"]]
        return original(project, zone, query=query, body=body, error=error)

    compute.do_instances_insert = spy
    result = bake(plan, backend_for(running, cloud_init=True), BakeOptions(build_timeout=1, test_timeout=1), Quiet())
    assert result.status == "built"
    assert "user-data" in keys["builder"] and "startup-script" not in keys["builder"]


def test_rebuild_dry_run_lists_plans_without_a_traceback(gce, tmp_path, monkeypatch, capsys) -> None:
    from bootstrap.cli import main

    running, compute, _ = gce
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "alpha.yaml").write_text("name: alpha\npackages: [htop]\n")
    monkeypatch.setenv("BOOTSTRAP_GCE_CREDENTIALS", "anonymous")
    code = main(["rebuild", str(folder), "-b", "gce", "--project", "team", "--zone", ZONE, "--endpoint-url",
                 running.endpoint, "--manifest", str(tmp_path / "images.json"), "--dry-run"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.split()[:2] == ["planned", str(folder / "alpha.yaml")]
    assert compute.instances == {} and our_images(compute) == []


def test_a_channel_move_cut_between_its_calls_leaves_a_holder_never_none(gce) -> None:
    """The new holder is labelled before the former loses its label: a failure in between (here the second
    setLabels) leaves Terraform's `labels.bootstrap-channel-latest:*` lookup an image, never nothing."""
    running, compute, _ = gce
    first, _ = run(gce)
    second, _ = run(gce, BakeOptions(force=True, build_timeout=1, test_timeout=1))
    assert first.image and second.image
    backend = backend_for(running)
    [back] = [i for i in backend.list_images("ml-box") if i.id == first.image.id]
    compute.faults["images.labels"] = Fault(status=403, times=1, after=1)
    with pytest.raises(BackendError):
        backend.point_channel(back, "ml-box", "latest")  # a rollback, cut after its first call
    holding = sorted(i["name"] for i in compute.images.values() if "bootstrap-channel-latest" in i.get("labels", {}))
    assert holding == sorted([first.image.id, second.image.id])  # two for a moment; the newest mark wins
    assert holders(backend.list_images("ml-box")) == {first.image.id: ["latest"]}
