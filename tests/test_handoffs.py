"""Each target's local hand-off (clouds/NAME/handoff.py) on its own, without a VM: what it starts, each
boot's QEMU setup, the client it reads off canned console text, and what it says the guest received.
The metadata stand-ins are real HTTP servers on 127.0.0.1, fetched here as the guest's clients fetch
them (tests/test_vm.py boots the real clients)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootstrap.localvm.clients import HANDOFFS
from bootstrap.localvm.handoff import HandOff
from bootstrap.localvm.image import BY_HAND_SERIAL, GCE_STARTUP_UNIT
from bootstrap.localvm.machine import GuestSetup
from bootstrap.targets import TEST_TARGETS

DATA = b"#!/bin/bash\necho user data\n"
DIGEST = {"size": len(DATA), "sha256": hashlib.sha256(DATA).hexdigest()}
BASE = GuestSetup(vendor_data="#cloud-config\n", read_only_disks={"apt": Path("/tmp/apt.img")}, kernel_args=("quiet",))
CONSOLES = {  # a line each client prints when it has run the user data, as measured on the guests
    "cloud-init": "Cloud-init v. 22.4.2 finished at X. Datasource DataSourceNoCloud [seed=/dev/vdb][dsmode=net].  Up 9",
    "ec2": "cloud-init[444]: Cloud-init v. 22.4.2 finished at Tue. Datasource DataSourceEc2Local.  Up 42.58 seconds",
    "gce": "google_metadata_script_runner[612]: Starting startup scripts (version Debian 20211116.00-6+b7).",
    "gce-user-data": "cloud-init[501]: Cloud-init v. 22.4.2 finished at Tue. Datasource DataSourceGCELocal.  Up 20s",
    "bash": f"bootstrap-by-hand: root runs bash /mnt/by-hand/bootstrap.sh ({len(DATA)} bytes, sha256 "
            f"{DIGEST['sha256']})",
}  # fmt: skip
CLIENT_OF = {
    "cloud-init": "DataSourceNoCloud [seed=/dev/vdb]",
    "ec2": "DataSourceEc2Local",
    "gce": "google_metadata_script_runner Debian 20211116.00-6+b7",
    "gce-user-data": "DataSourceGCELocal",
    "bash": "root, by hand: bash /mnt/by-hand/bootstrap.sh",
}
FOLDER = {"cloud-init": "local", "ec2": "ec2", "gce": "gce", "gce-user-data": "gce", "bash": "local"}


@contextlib.contextmanager
def started(target: str) -> Iterator[HandOff]:
    with contextlib.ExitStack() as stack:
        handoff = HANDOFFS[target](DATA)
        handoff.start(stack)
        yield handoff


def fetch(port: int, path: str, agent: str, headers: dict[str, str] | None = None, method: str = "GET") -> bytes:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     headers={"User-Agent": agent, **(headers or {})})  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.read()


def test_every_target_of_bootstrap_test_has_a_hand_off_in_its_clouds_folder() -> None:
    assert tuple(HANDOFFS) == TEST_TARGETS == tuple(CONSOLES)
    for target, handoff in HANDOFFS.items():
        assert handoff.__module__ == f"bootstrap.clouds.{FOLDER[target]}.handoff" and handoff.CLIENT.target == target
        assert handoff.LOG_HINT.startswith("; ") and "--keep-vm" in handoff.LOG_HINT


@pytest.mark.parametrize("target", TEST_TARGETS)
def test_the_client_is_read_off_the_console_and_only_its_own_proves_it(target: str) -> None:
    with started(target) as handoff:
        assert handoff.client(f"boot noise\n{CONSOLES[target]}\nmore noise") == CLIENT_OF[target]
        assert handoff.expected_client() in handoff.client(CONSOLES[target])
        assert handoff.client_pattern().search(CONSOLES[target])
        for other, console in CONSOLES.items():
            if other != target:  # another cloud's client does not prove this target
                assert handoff.expected_client() not in handoff.client(console), other
        assert handoff.client("Cloud-init v. 22.4.2 running 'init-local'") == ""


@pytest.mark.parametrize("target,shape", [("cloud-init", r"bootstrap-test-[0-9a-f]{8}"), ("ec2", r"i-0[0-9a-f]{16}"),
                                          ("gce", r"[0-9]{1,19}"), ("gce-user-data", r"[0-9]{1,19}"),
                                          ("bash", r"bootstrap-test-[0-9a-f]{8}")])  # fmt: skip
def test_instance_ids_have_the_clouds_shape_and_a_relaunch_is_a_new_one(target: str, shape: str) -> None:
    with started(target) as handoff:
        first = handoff.instance_id
        assert re.fullmatch(shape, first)
        assert handoff.relaunch() == handoff.instance_id != first and re.fullmatch(shape, handoff.instance_id)
        if handoff.server is not None:  # the stand-in tells the guest it is the new instance
            assert handoff.server.instance_id == handoff.instance_id


def test_cloud_init_reads_the_seed_and_boots_as_given() -> None:
    with started("cloud-init") as handoff:
        assert handoff.server is None and handoff.seed_user_data == DATA
        assert handoff.setup(BASE, first=True) == BASE == handoff.setup(BASE, first=False)
        assert handoff.runs_user_data(True) and handoff.runs_user_data(False)
        assert handoff.delivered("") == [{"path": "seed disk: user-data", "user_agent": "", **DIGEST}]


def test_ec2_boots_with_the_dmi_cloud_init_trusts_and_counts_what_imds_served() -> None:
    with started("ec2") as handoff:
        assert handoff.seed_user_data is None and handoff.server is not None
        setup = handoff.setup(BASE, first=True)
        assert setup.kernel_args == ("quiet", "ci.ds=Ec2") and setup.metadata_port == handoff.server.port
        assert (setup.vendor_data, setup.read_only_disks) == (BASE.vendor_data, BASE.read_only_disks)
        [smbios] = setup.smbios
        kind, *rest = smbios.split(",")
        fields = dict(part.split("=", 1) for part in rest)
        assert kind == "type=1" and fields["manufacturer"] == "Amazon EC2" and fields["product"] == "t3.medium"
        # cloud-init 22.4's identify_aws: a uuid starting "ec2" that equals the serial, of this instance
        assert re.fullmatch(r"ec2[0-9a-f]{5}-([0-9a-f]{4}-){3}[0-9a-f]{12}", fields["uuid"])
        assert fields["uuid"] == fields["serial"] and handoff.setup(BASE, first=False) == setup
        handoff.relaunch()
        assert handoff.setup(BASE, first=False).smbios != setup.smbios  # a new instance, a new uuid
        assert handoff.runs_user_data(False) and handoff.delivered("") == []
        port, agent = handoff.server.port, "Cloud-Init/22.4.2"
        token = fetch(port, "/latest/api/token", agent, {"X-aws-ec2-metadata-token-ttl-seconds": "21600"}, "PUT")
        assert fetch(port, "/2021-03-23/user-data", agent, {"X-aws-ec2-metadata-token": token.decode()}) == DATA
        assert handoff.delivered(CONSOLES["ec2"]) == [{"path": "/2021-03-23/user-data", "user_agent": agent,
                                                       **DIGEST}]  # fmt: skip


@pytest.mark.parametrize("target,key,agent", [("gce", "startup-script", True), ("gce-user-data", "user-data", False)])
def test_gce_boots_as_google_compute_engine_and_counts_its_own_clients_fetches(target: str, key: str,
                                                                               agent: bool) -> None:  # fmt: skip
    with started(target) as handoff:
        assert handoff.seed_user_data is None and handoff.server is not None
        setup = handoff.setup(BASE, first=False)
        # the guest agent is started only where it is the client (cloud-init's GCE datasource needs none)
        assert setup.kernel_args == ("quiet", "ci.ds=GCE", *([f"systemd.wants={GCE_STARTUP_UNIT}"] if agent else []))
        assert setup.smbios == (f"type=1,manufacturer=Google,product=Google Compute Engine,"
                                f"serial=GoogleCloud-{handoff.instance_id}",)  # fmt: skip
        assert setup.metadata_port == handoff.server.port and setup.read_only_disks == BASE.read_only_disks
        assert handoff.setup(BASE, first=True) == setup and handoff.runs_user_data(False)
        flavor = {"Metadata-Flavor": "Google"}
        path = "/computeMetadata/v1/instance/attributes/"
        for user_agent in ("GoogleGuestAgent", "Cloud-Init/22.4.2"):  # both read the attributes
            assert json.loads(fetch(handoff.server.port, path, user_agent, flavor)) == {key: DATA.decode()}
        [served] = handoff.delivered(CONSOLES[target])
        assert served["user_agent"].startswith("Cloud-Init") is not agent and served["path"] == path
        assert served[key] == DIGEST


def test_bash_is_handed_over_once_by_hand_and_hashed_by_the_guest() -> None:
    with started("bash") as handoff:
        assert handoff.server is None and handoff.seed_user_data == b""  # launched without user data
        first = handoff.setup(BASE, first=True)
        assert first.read_only_disks == {**BASE.read_only_disks, BY_HAND_SERIAL: first.read_only_disks[BY_HAND_SERIAL]}
        assert first.read_only_disks[BY_HAND_SERIAL].stat().st_size > 0 and first.kernel_args == BASE.kernel_args
        assert handoff.setup(BASE, first=False) == BASE  # the installed unit carries later boots
        assert handoff.runs_user_data(True) and not handoff.runs_user_data(False)
        assert handoff.delivered("no banner") == []
        assert handoff.delivered(CONSOLES["bash"]) == [{"path": "/mnt/by-hand/bootstrap.sh",
                                                        "user_agent": "bash (by hand)", **DIGEST}]  # fmt: skip
    assert not first.read_only_disks[BY_HAND_SERIAL].exists()  # removed with the stack
