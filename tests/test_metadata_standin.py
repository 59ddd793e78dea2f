"""The GCE metadata server stand-in that `bootstrap test --target gce` hands the guest's agent, answered
as GCE does: the header required, attributes as JSON or one by one, what was served recorded; reached
through the per-connection relay QEMU starts."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from bootstrap.cli import main
from bootstrap.localvm.machine import GuestSetup
from bootstrap.localvm.metadata import MetadataServer


def get(port: int, path: str, flavor: bool = True) -> tuple[int, bytes]:
    headers = {"Metadata-Flavor": "Google"} if flavor else {}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/computeMetadata/v1/{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.headers["Metadata-Flavor"] == "Google"
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def test_answers_what_the_agent_and_the_runner_read() -> None:
    with MetadataServer({"startup-script": "echo hi\n"}, "4242") as server:
        assert get(server.port, "instance/attributes/?recursive=true&alt=json&timeout_sec=10&last_etag=NONE") == (
            200, json.dumps({"startup-script": "echo hi\n"}).encode())  # fmt: skip
        assert get(server.port, "instance/attributes/startup-script") == (200, b"echo hi\n")
        assert get(server.port, "instance/id") == (200, b"4242")
        assert get(server.port, "project/project-id")[0] == 404
        assert get(server.port, "instance/id", flavor=False)[0] == 403  # as GCE: the header is required
        assert [served.path for served in server.served] == [
            "/computeMetadata/v1/instance/attributes/", "/computeMetadata/v1/instance/attributes/startup-script",
            "/computeMetadata/v1/instance/id"]  # fmt: skip


def test_the_relay_carries_one_connection_on_standard_input_and_output() -> None:
    with MetadataServer({"startup-script": "echo hi\n"}, "1") as server:
        request = b"GET /computeMetadata/v1/instance/id HTTP/1.1\r\nHost: m\r\nMetadata-Flavor: Google\r\n\r\n"
        answer = subprocess.run([sys.executable, "-m", "bootstrap.localvm.relay", str(server.port)], input=request,
                                capture_output=True, timeout=30)  # fmt: skip
        assert answer.stdout.startswith(b"HTTP/1.0 200") and answer.stdout.endswith(b"\r\n\r\n1")


def test_the_guest_reaches_it_at_the_link_local_address_and_nothing_else_without_network() -> None:
    nic = GuestSetup(metadata_port=5000).nic()
    assert "guestfwd=tcp:169.254.169.254:80-cmd:" in nic and "bootstrap.localvm.relay 5000" in nic
    assert "restrict=on" in nic and "net=169.254.0.0/16" in nic
    assert "restrict=on" not in GuestSetup(metadata_port=5000, network=True).nic()
    assert GuestSetup().nic() == "none"


@pytest.mark.parametrize("target", ["ec2", "bash"])
def test_a_target_the_local_vm_cannot_hand_over_yet_is_exit_2_before_booting(target: str, capsys) -> None:
    assert main(["test", "base", "--target", target]) == 2
    assert "it can for: cloud-init, gce" in capsys.readouterr().err
