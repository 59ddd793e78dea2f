"""VM tier: real boots of rendered user data in QEMU with cloud-init (slow; marked `vm`).

Runs when QEMU, mmdebstrap and root are available (tests/run installs them). The base image is
built once (about 2 minutes) and cached; each boot takes about 45 s under TCG on 2 cores.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from bootstrap.localvm.image import missing_tools
from bootstrap.localvm.machine import GuestSetup
from bootstrap.localvm.proof import prove
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile
from bootstrap.targets import render

pytestmark = [
    pytest.mark.vm,
    pytest.mark.skipif(bool(missing_tools()) or os.geteuid() != 0, reason="needs root, QEMU and mmdebstrap"),
]

# The guest has no network: a stand-in micromamba (written by the harness's vendor data, at the
# pinned version so that the conda step does not download one) creates environments from specs.
MICROMAMBA_STUB = r"""#!/bin/bash
set -eu
echo "micromamba $*" >> /var/tmp/micromamba.log
case "$1" in
  --version) echo 2.0.5 ;;
  env|create)
    [ "$1" = env ] && shift
    action=$1; shift
    while [ $# -gt 0 ]; do case "$1" in -n) name=$2; shift 2 ;; -f) spec=$2; shift 2 ;; *) shift ;; esac; done
    env="$MAMBA_ROOT_PREFIX/envs/$name"
    if [ "$action" = remove ]; then rm -rf "$env"; exit 0; fi
    mkdir -p "$env/bin" "$env/conda-meta"
    ln -sf /usr/bin/python3 "$env/bin/python"
    cp "$spec" "$env/conda-meta/spec" ;;
  *) echo "stub micromamba: unsupported $*" >&2; exit 2 ;;
esac
"""
STUB_SETUP = GuestSetup(
    vendor_data="#cloud-config\nbootcmd:\n  - "
    + json.dumps(
        "mkdir -p /opt/conda/bin && cat > /opt/conda/bin/micromamba <<'STUB'\n" + MICROMAMBA_STUB + "STUB\n"
        "chmod 0755 /opt/conda/bin/micromamba"
    )
    + "\n"
)

SMOKE = """\
name: vm-smoke
hostname: smoke.example.com
users: [{name: alice, groups: [users], sudo: true}]
conda:
  group: users
  environments: [{name: ds, spec: {dependencies: [python=3.11, numpy]}}]
env: {GREETING: "it's $(not run)"}
files:
  - {path: /etc/smoke.conf, content: "hello from bootstrap\\n"}
commands:
  first_boot: [{name: once, run: echo once >> /var/tmp/once.log}]
  every_boot: [{name: each, run: echo boot >> /var/tmp/each.log}]
verify:
  - test "$(cat /etc/smoke.conf)" = "hello from bootstrap"
  - test "$(hostname)" = smoke
  - id alice && test -f /etc/sudoers.d/90-bootstrap-alice
  - test "$(wc -l < /var/tmp/once.log)" -eq 1
  - . /etc/profile.d/bootstrap-env.sh && test "$GREETING" = "it's \\$(not run)"
  - /opt/conda/envs/ds/bin/python -c 'print(1)'
  - grep -q numpy /opt/conda/envs/ds/conda-meta/spec && test -s /var/lib/bootstrap/conda/ds.spec-sha256
  - test "$(stat -c %G /opt/conda/envs/ds)" = users
  - test "$(grep -c 'env create' /var/tmp/micromamba.log)" -eq 1
"""


# The second first-boot step fails once, then succeeds: the next boot must resume there.
RESUME = """\
name: vm-resume
commands:
  first_boot:
    - {name: before, run: echo before >> /var/tmp/log}
    - {name: flaky, run: "test -e /var/tmp/second-try || { touch /var/tmp/second-try; exit 3; }"}
    - {name: after, run: echo after >> /var/tmp/log}
verify:
  - test "$(cat /var/tmp/log | tr '\\n' ' ')" = "before after "
"""


def test_first_boot_then_reboot_in_a_real_vm(write_profile) -> None:
    plan = build_plan(load_profile(str(write_profile(SMOKE))))
    proof = prove(plan, reboots=1, progress=lambda line: None, setup=STUB_SETUP)
    assert proof.ok, "\n".join(proof.problems)
    first, second = proof.boots
    # one order on every boot: the host name first (issue 22's phase model)
    assert [s["id"] for s in first.steps] == ["hostname", "users", "env", "conda", "file-etc-smoke.conf", "cmd-once",
                                              "cmd-each", "verify"]  # fmt: skip
    assert [s["id"] for s in second.steps] == ["hostname", "cmd-each", "verify"]


def test_a_failing_step_is_reported_with_its_id(write_profile) -> None:
    profile = write_profile(RESUME)
    plan = build_plan(load_profile(str(profile)))
    proof = prove(plan, reboots=1, progress=lambda line: None)
    [first] = proof.boots  # the test stops at a failed boot: resume is proven by the next test
    assert first.result == "failed" and first.failed_step == "cmd-flaky"
    assert [s["id"] for s in first.steps] == ["cmd-before", "cmd-flaky"]
    assert proof.problems == ["boot 1: step cmd-flaky failed"]


def test_resume_after_failure_in_a_real_vm(write_profile, tmp_path) -> None:
    """Boot, fail at a step, boot again on the same disk: it resumes at the failed step."""
    from bootstrap.localvm.image import ensure_base_image
    from bootstrap.localvm.machine import Machine
    from bootstrap.targets import render

    profile = write_profile(RESUME)
    user_data = render(build_plan(load_profile(str(profile))), "cloud-init").data
    with Machine(ensure_base_image(progress=lambda line: None), user_data, instance_id="resume-1",
                 workdir=tmp_path / "vm") as machine:  # fmt: skip
        machine.start()
        first = machine.wait_for_result(900)
        machine.power_off()
        machine.start()
        second = machine.wait_for_result(900)
        machine.power_off()
    assert (first.result, first.failed_step) == ("failed", "cmd-flaky")
    assert second.result == "ok", second.console[-3000:]
    assert [s["id"] for s in second.steps] == ["cmd-flaky", "cmd-after", "verify"]  # cmd-before did not run again


def test_data_disk_survives_a_new_instance_and_services_start(write_profile, tmp_path) -> None:
    """The persistent data disk: formatted on the first machine, its data kept on the next one."""
    from bootstrap.localvm.image import ensure_base_image
    from bootstrap.localvm.machine import Machine, create_disk
    from bootstrap.targets import render

    profile = write_profile("""\
        name: vm-data
        users: [{name: alice}]
        mounts:
          - {path: /data, type: block, device: {path: /dev/disk/by-id/virtio-data}, owner: 'alice:alice',
             mode: '0770', wait_seconds: 60}
        services:
          units:
            - {name: ticker, command: "while true; do date >> /var/tmp/ticks; sleep 5; done", user: root}
        commands:
          every_boot:  # after the every-boot mount: the first instance writes, later ones keep it
            - {name: seed-data, run: "test -e /data/first || cat /var/lib/cloud/data/instance-id > /data/first"}
        verify:
          - mountpoint -q /data
          - grep -qx data-1 /data/first
          - test "$(stat -c %U:%a /data)" = alice:770
          - grep -q ' /data ext4 ' /etc/fstab
          - systemctl is-active --quiet ticker
          - test "$(systemctl is-enabled ticker || true)" = static  # the runner starts it, in order
        """)
    user_data = render(build_plan(load_profile(str(profile))), "cloud-init").data
    base = ensure_base_image(progress=lambda line: None)
    data = create_disk(tmp_path / "data.qcow2")
    results = []
    for instance in ("data-1", "data-2"):  # two instances, each on a fresh root disk, one data disk
        with Machine(base, user_data, instance_id=instance, workdir=tmp_path / instance,
                     data_disks={"data": data}) as machine:  # fmt: skip
            machine.start()
            results.append(machine.wait_for_result(900))
            machine.power_off()
    first, second = results
    assert first.result == "ok", first.console[-3000:]
    assert second.result == "ok", second.console[-3000:]
    assert "holds no filesystem: creating ext4" in first.console
    assert "already holds ext4: keeping its data" in second.console
    assert "creating ext4" not in second.console


def _qemu_processes_under(folder) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "qemu-system" in text and str(folder) in text:
            found.append(text)
    return found


def test_base_profile_boots_reboots_bakes_and_relaunches(tmp_path, monkeypatch, capsys) -> None:
    """`bootstrap test base` with no flags on a machine with no route to a Debian mirror (it used to fail
    in the packages step): the guest gets a local apt repository by itself. Then a bake (seal, flatten)
    and a new instance of the golden image."""
    from bootstrap.bake.events import Quiet
    from bootstrap.bake.lifecycle import BakeOptions, bake
    from bootstrap.cli import main
    from bootstrap.clouds.local.backend import LocalBackend
    from bootstrap.features import needs
    from bootstrap.localvm.guest import MIRROR_ENV, choose_guest

    monkeypatch.setenv(MIRROR_ENV, "127.0.0.1:9")  # nothing listens there: this host reaches no mirror
    assert main(["test", "base", "--json", "--report", str(tmp_path / "report")]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert json.loads((tmp_path / "report" / "report.json").read_text()) == report  # and its page beside it
    assert all(step["id"] in (tmp_path / "report" / "index.html").read_text() for step in report["boots"][0]["steps"])
    assert report["ok"] and "packages" in [s["id"] for s in report["boots"][0]["steps"]]
    assert "no route to a mirror" in captured.err  # said before booting

    profile = load_profile("base")
    plan = build_plan(profile)
    setup = choose_guest(needs(profile.data), network=None, local_apt=None).setup()

    output = tmp_path / "images"
    output.mkdir()
    backend = LocalBackend(output, progress=lambda line: None, setup=setup)
    result = bake(plan, backend, BakeOptions(build_timeout=900, test_timeout=900), Quiet())
    assert result.status == "built" and result.image
    assert result.baked_steps == ["timezone", "packages", "file-etc-motd"]
    assert {s["id"]: s["status"] for s in result.test.steps} == {
        "timezone": "baked", "packages": "baked", "file-etc-motd": "baked"}  # fmt: skip
    manifest = json.loads((output / f"{result.image.id}.json").read_text())
    assert manifest["tags"]["bootstrap:image-hash"] == plan.image_hash
    assert manifest["baked_steps"] == result.baked_steps and manifest["timings"]["build"] > 0
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(output / manifest["disk"])],
                                     capture_output=True, text=True, check=True).stdout)  # fmt: skip
    assert "backing-filename" not in info  # flattened: the golden image stands alone
    assert os.readlink(output / "base-latest.qcow2") == manifest["disk"]
    assert not (output / ".work").exists() and not _qemu_processes_under(output)

    again = bake(plan, backend, BakeOptions(), Quiet())
    assert again.status == "unchanged" and again.image.id == result.image.id


def test_two_bakes_from_scratch_hold_equal_manifests(tmp_path, monkeypatch) -> None:
    """The manifest's promise (#25): one profile baked twice from the same source gives images whose
    manifests are equal less the documented volatile paths, each read from its disk and checked against
    the hash its seal printed. Were a volatile path missing from layout.MANIFEST_SKIP, they would differ."""
    from bootstrap.bake.events import Quiet
    from bootstrap.bake.lifecycle import BakeOptions, bake
    from bootstrap.bake.manifest import diff_manifests, read_manifest
    from bootstrap.clouds.local.backend import LocalBackend
    from bootstrap.features import needs
    from bootstrap.localvm.guest import MIRROR_ENV, choose_guest

    monkeypatch.setenv(MIRROR_ENV, "127.0.0.1:9")  # offline: both from the one local apt repository
    profile = load_profile("base")
    plan = build_plan(profile)
    setup = choose_guest(needs(profile.data), network=None, local_apt=None).setup()
    manifests = []
    for run in ("one", "two"):
        output = tmp_path / run
        output.mkdir()
        backend = LocalBackend(output, progress=lambda line: None, setup=setup)
        result = bake(plan, backend, BakeOptions(build_timeout=900, test=False), Quiet())
        assert result.status == "built" and result.image
        shown = backend.image_manifest(result.image)
        assert shown and shown["verified"] and shown["packages"] > 100, shown
        manifests.append(read_manifest(output / f"{result.image.id}.manifest.gz"))
    one, two = manifests
    assert {"bash", "systemd"} <= set(one.packages) and one.packages == two.packages
    assert diff_manifests(one, two) == [], [str(d) for d in diff_manifests(one, two)][:20]
    assert one.stable_sha256 == two.stable_sha256 and one.sha256 != two.sha256  # the logs differ


def test_a_bake_from_cached_layers_equals_one_from_scratch(tmp_path, monkeypatch, capsys) -> None:
    """The layer cache's promise (#25): after a change to the last image step, a bake starts from the
    cached layer below it (a qcow2 chain in .layers/), runs only that step, and gives an image whose
    manifest equals a bake of the changed profile from scratch (--refresh), less the volatile paths."""
    from bootstrap.bake.events import Quiet
    from bootstrap.bake.lifecycle import BakeOptions, bake
    from bootstrap.bake.manifest import diff_manifests, read_manifest
    from bootstrap.clouds.local.backend import LocalBackend
    from bootstrap.features import needs
    from bootstrap.localvm.guest import MIRROR_ENV, choose_guest

    monkeypatch.setenv(MIRROR_ENV, "127.0.0.1:9")  # offline: every bake from the one local apt repository
    profile = load_profile("base")
    setup = choose_guest(needs(profile.data), network=None, local_apt=None).setup()
    output = tmp_path / "images"
    output.mkdir()
    cache = tmp_path / "layers"
    backend = LocalBackend(output, progress=lambda line: None, setup=setup, layer_cache=cache)
    first = bake(build_plan(profile), backend, BakeOptions(build_timeout=900, test=False), Quiet())
    assert first.status == "built" and first.layers["reused"] == 0 and len(first.layers["made"]) == 3, first.layers
    info = [subprocess.run(["qemu-img", "info", "--output=json", str(cache / f"{i}.qcow2")],
                           capture_output=True, text=True, check=True).stdout for i in first.layers["made"]]
    chain = [json.loads(text) for text in info]
    assert [Path(c["backing-filename"]).stem for c in chain[1:]] == first.layers["made"][:2]  # each over the one below

    changed = build_plan(load_profile("base", ["files.0.content=changed by the layer test\n"]))
    events = Quiet()
    layered = bake(changed, backend, BakeOptions(build_timeout=900, test=True), events)
    assert layered.status == "built" and layered.layers["reused"] == 2
    assert layered.layers["from"] == first.layers["made"][1]
    said = [e["message"] for e in events.history if e["event"] == "layers"]
    assert said == ["base: reused layers 1-2 of 3 (timezone, packages), rebuilding from file-etc-motd"], said
    assert {s["id"]: s["status"] for s in layered.test.steps} == {
        "timezone": "baked", "packages": "baked", "file-etc-motd": "baked"}  # fmt: skip

    scratch = bake(changed, backend, BakeOptions(build_timeout=900, test=False, refresh=True, force=True), Quiet())
    assert scratch.status == "built" and scratch.layers["reused"] == 0
    one, two = (read_manifest(output / f"{r.image.id}.manifest.gz") for r in (layered, scratch) if r.image)
    assert diff_manifests(one, two) == [], [str(d) for d in diff_manifests(one, two)][:20]
    assert one.stable_sha256 == two.stable_sha256
    assert all(p.with_suffix(".json").exists() for p in cache.glob("L-*.qcow2"))  # no builder's top disk left
    assert not (output / ".work").exists() and not _qemu_processes_under(output)

    # The same cache for `bootstrap test`: after another change to the last step, it boots layer 2.
    from bootstrap.cli import main

    capsys.readouterr()
    code = main(["test", "base", "--set", "files.0.content=changed again\n", "--layer-cache", str(cache),
                 "--reboots", "0", "--no-relaunch", "--json", "--report", str(tmp_path / "report")])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err[-3000:]
    assert "booting the cached layer 2 of 3 (timezone, packages)" in captured.err
    steps = {s["id"]: s["status"] for s in json.loads(captured.out)["boots"][0]["steps"]}
    assert steps == {"timezone": "baked", "packages": "baked", "file-etc-motd": "ok"}, steps


@pytest.mark.parametrize("target,client,fetches", [
    ("ec2", "DataSourceEc2Local", "/user-data"),  # cloud-init's Ec2 datasource (init-local, as on AWS)
    ("gce", "google_metadata_script_runner", "/instance/attributes/"),  # Google's guest agent
    pytest.param("gce-user-data", "DataSourceGCELocal", "/instance/attributes/",  # cloud-init's GCE datasource
                 marks=pytest.mark.matrix),  # cloud-init's datasources: Ec2 and NoCloud are proven in CI
    pytest.param("bash", "by hand", "/mnt/by-hand/bootstrap.sh",  # a person, then the unit it installed
                 marks=pytest.mark.matrix),  # bash's runner and unit: proven in CI by the sandbox tier
])  # fmt: skip
def test_base_through_each_clouds_own_client(target: str, client: str, fetches: str, monkeypatch, capsys,
                                            tmp_path) -> None:  # fmt: skip
    """`bootstrap test base --target T` with no other flag, offline (a local apt repository): the user data
    handed over as that cloud does and run by its own client, on the first boot, a reboot and a relaunch
    of the same disk as a new instance. The report names the client from the guest's console and what
    the guest received, byte for byte the rendered output. The agent's first run found a bug: the GCE
    script waited for cloud-init's final stage, which waits for it (15 minutes lost per boot)."""
    import hashlib

    from bootstrap.cli import main
    from bootstrap.localvm.clients import CLIENTS
    from bootstrap.localvm.guest import MIRROR_ENV

    monkeypatch.setenv(MIRROR_ENV, "127.0.0.1:9")
    assert main(["test", "base", "--target", target, "--json", "--report", str(tmp_path / "report")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["target"] == target and client in report["client"], report
    first, again, relaunched = report["boots"]
    assert first["instance"] == again["instance"] != relaunched["instance"]
    ran = [[s["id"] for s in boot["steps"] if s["status"] == "ok"] for boot in report["boots"]]
    assert "packages" in ran[0] and "packages" not in ran[1] and "packages" in ran[2]  # once per instance
    rendered = render(build_plan(load_profile("base")), CLIENTS[target].renders).data
    got = [d.get("startup-script") or d.get("user-data") or d for d in report["delivered"]]
    assert {g["sha256"] for g in got} == {hashlib.sha256(rendered).hexdigest()}
    assert all(fetches in d["path"] for d in report["delivered"])
    assert len(got) == (1 if target == "bash" else 3)  # by hand once; the rest fetch it every boot


@pytest.mark.parametrize("target,client", [("ec2", "DataSourceEc2Local"),
                                           pytest.param("bash", "by hand", marks=pytest.mark.matrix)])
def test_bake_hands_over_through_the_clouds_client_and_so_does_the_relaunch(target: str, client: str,
                                                                            tmp_path) -> None:  # fmt: skip
    """`bake -b local --target T`: the builder receives the bake variant as that cloud hands it over (IMDS;
    a person running the script), and the golden image's test machine the plain output through the same
    client (the bash bake variant installs no unit, as an image's machines may get cloud-init user data:
    a person runs the script on the new machine too). The manifest names the client each console showed."""
    from bootstrap.cli import main

    output = tmp_path / "images"
    assert main(["bake", "base", "-b", "local", "--target", target, "--no-network", "-o", str(output)]) == 0
    [manifest] = [json.loads(p.read_text()) for p in output.glob("bootstrap-base-*.json") if not p.is_symlink()]
    assert manifest["target"] == target
    assert client in manifest["clients"]["builder"] and client in manifest["clients"]["test"]
    assert {s["id"]: s["status"] for s in manifest["test"]["steps"]} == {
        "timezone": "baked", "packages": "baked", "file-etc-motd": "baked"}  # fmt: skip
    assert not (output / ".work").exists() and not _qemu_processes_under(output)


def test_a_failed_bake_leaves_no_qemu_and_no_files(write_profile, tmp_path) -> None:
    from bootstrap.bake.backend import BakeStepError
    from bootstrap.bake.events import Quiet
    from bootstrap.bake.lifecycle import BakeOptions, bake
    from bootstrap.clouds.local.backend import LocalBackend

    plan = build_plan(
        load_profile(
            str(
                write_profile("""\
        name: vm-broken-bake
        commands:
          first_boot: [{name: broken, run: "echo about to fail; exit 7", scope: image}]
        """)
            )
        )
    )
    output = tmp_path / "images"
    output.mkdir()
    with pytest.raises(BakeStepError) as caught:
        bake(plan, LocalBackend(output, progress=lambda line: None), BakeOptions(build_timeout=900), Quiet())
    assert caught.value.step == "build" and "step cmd-broken failed" in str(caught.value)
    assert list(output.iterdir()) == [] and not _qemu_processes_under(output)
