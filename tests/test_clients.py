"""How `bootstrap test` and `bake -b local` hand a guest its user data per target (localvm/clients.py):
what each boot's QEMU gets, the new instance on a relaunch, and the client read off the guest's console.
No VM here (tests/test_vm.py boots them)."""

from __future__ import annotations

import hashlib

import pytest

from bootstrap.clouds.ec2.metadata import Ec2Metadata
from bootstrap.clouds.gce.metadata import GceMetadata
from bootstrap.console import GuestReport
from bootstrap.localvm.clients import CLIENTS, Handover
from bootstrap.localvm.image import BY_HAND_SERIAL, GCE_STARTUP_UNIT
from bootstrap.localvm.machine import GuestSetup
from bootstrap.localvm.proof import judge
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile

DATA = b"#!/bin/bash\necho user data\n"


def test_ec2_hands_over_through_imds_with_the_dmi_cloud_init_trusts_as_aws() -> None:
    with Handover("ec2", DATA, GuestSetup()) as handover:
        assert handover.seed_user_data is None  # no NoCloud seed: only IMDS
        assert isinstance(handover.server, Ec2Metadata) and handover.server.user_data == DATA
        setup = handover.setup(first=True)
        assert setup.metadata_port == handover.server.port and "ci.ds=Ec2" in setup.kernel_args
        [smbios] = setup.smbios
        fields = dict(part.split("=", 1) for part in smbios.split(",")[1:])
        # cloud-init 22.4's identify_aws: a uuid starting "ec2" that equals the serial
        assert fields["uuid"].startswith("ec2") and fields["uuid"] == fields["serial"]
        first = handover.instance_id
        assert first.startswith("i-0") and handover.relaunch() != first
        assert handover.server.instance_id == handover.instance_id  # the new instance, through the same IMDS


@pytest.mark.parametrize("target,key,agent", [("gce", "startup-script", True), ("gce-user-data", "user-data", False)])
def test_gce_hands_over_through_the_metadata_server(target: str, key: str, agent: bool) -> None:
    with Handover(target, DATA, GuestSetup(kernel_args=("quiet",))) as handover:
        assert handover.seed_user_data is None
        assert isinstance(handover.server, GceMetadata) and handover.server.attributes == {key: DATA.decode()}
        setup = handover.setup(first=False)
        assert setup.kernel_args[:2] == ("quiet", "ci.ds=GCE")
        assert (f"systemd.wants={GCE_STARTUP_UNIT}" in setup.kernel_args) is agent  # the agent only for gce
        assert "product=Google Compute Engine" in setup.smbios[0]  # what cloud-init's GCE datasource checks
        old = handover.instance_id
        handover.relaunch()
        assert handover.server.instance_id == handover.instance_id != old


def test_bash_is_run_by_hand_once_then_the_installed_unit_carries_on() -> None:
    with Handover("bash", DATA, GuestSetup()) as handover:
        assert handover.seed_user_data == b""  # a machine launched without user data: an instance id only
        first = handover.setup(first=True)
        assert BY_HAND_SERIAL in first.read_only_disks and first.read_only_disks[BY_HAND_SERIAL].exists()
        assert BY_HAND_SERIAL not in handover.setup(first=False).read_only_disks
        console = (f"bootstrap-by-hand: root runs bash /mnt/by-hand/bootstrap.sh ({len(DATA)} bytes, "
                   f"sha256 {hashlib.sha256(DATA).hexdigest()})\n")  # fmt: skip
        assert handover.client([console]) == "root, by hand: bash /mnt/by-hand/bootstrap.sh"
        assert handover.delivered([console]) == [{"path": "/mnt/by-hand/bootstrap.sh",
                                                  "user_agent": "bash (by hand)", "size": len(DATA),
                                                  "sha256": hashlib.sha256(DATA).hexdigest()}]  # fmt: skip
    assert not first.read_only_disks[BY_HAND_SERIAL].exists()  # removed with the handover


def test_the_client_is_read_off_the_console() -> None:
    final = "cloud-init[444]: Cloud-init v. 22.4.2 finished at Tue. Datasource DataSourceEc2Local.  Up 42.58 seconds"
    nocloud = "Cloud-init v. 22.4.2 finished at X. Datasource DataSourceNoCloud [seed=/dev/vdb][dsmode=net].  Up 9s"
    with Handover("ec2", DATA, GuestSetup()) as ec2, Handover("cloud-init", DATA, GuestSetup()) as seed:
        assert ec2.client([final]) == "DataSourceEc2Local" and ec2.expected_client() in ec2.client([final])
        assert seed.client([nocloud]) == "DataSourceNoCloud [seed=/dev/vdb]"
        assert seed.expected_client() not in seed.client([final])  # the wrong client does not prove it
        assert seed.seed_user_data == DATA
    with Handover("gce", DATA, GuestSetup()) as gce:
        banner = "google_metadata_script_runner[612]: Starting startup scripts (version Debian 20211116.00-6+b7)."
        assert gce.client([banner]) == "google_metadata_script_runner Debian 20211116.00-6+b7"
        assert gce.client([final]) == ""


def test_every_test_target_has_a_client_the_targets_page_names() -> None:
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "docs" / "targets.md").read_text()
    for target, client in CLIENTS.items():
        assert f"| `{target}` |" in page and client.proves_with in page, target


def test_first_boot_steps_run_once_per_instance() -> None:
    plan = build_plan(load_profile("base"))
    first = [s.id for s in plan.steps if s.phase.value == "first_boot"]

    def boot(ids: list[str]) -> GuestReport:
        return GuestReport("ok", None, [{"id": i, "status": "ok"} for i in ids], "", 1.0)

    boots = [boot(first), boot([]), boot(first)]
    assert judge(plan, boots, ["i-1", "i-1", "i-2"]) == []  # the relaunch ran them again: right
    problems = judge(plan, [*boots[:2], boot([])], ["i-1", "i-1", "i-2"])
    assert problems and all("on instance i-2, not once" in p for p in problems)  # a relaunch must run them
    assert judge(plan, boots, ["i-1"] * 3)  # twice on one instance: wrong


@pytest.mark.parametrize("backend", ["ec2", "gce"])
def test_target_is_for_the_local_backend_only(backend: str, capsys) -> None:
    """A cloud's own backend hands its user data to the cloud: --target there is a mistake, said before any call."""
    from bootstrap.cli import main

    assert main(["bake", "base", "-b", backend, "--target", "bash", "--source", "ami-1", "--region", "eu-west-1",
                 "--project", "p", "--zone", "europe-west1-b", "--dry-run"]) == 2  # fmt: skip
    assert f"--target is for -b local; -b {backend}" in capsys.readouterr().err
