"""The metadata server stand-ins `bootstrap test --target ec2|gce|gce-user-data` hands the guest's clients,
answered as the clouds do (GCE: the header required, attributes as JSON or one by one; EC2: IMDSv2 with
tokens required, the tree cloud-init crawls), what was served recorded; reached through the
per-connection relay QEMU starts."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

from bootstrap.cli import main
from bootstrap.clouds.ec2.metadata import Ec2Metadata
from bootstrap.clouds.gce.metadata import GceMetadata
from bootstrap.localvm.machine import GuestSetup
from bootstrap.localvm.metadata import GUEST_MAC


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
    with GceMetadata({"startup-script": "echo hi\n"}, "4242") as server:
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
    with GceMetadata({"startup-script": "echo hi\n"}, "1") as server:
        request = b"GET /computeMetadata/v1/instance/id HTTP/1.1\r\nHost: m\r\nMetadata-Flavor: Google\r\n\r\n"
        answer = subprocess.run([sys.executable, "-m", "bootstrap.localvm.relay", str(server.port)], input=request,
                                capture_output=True, timeout=30)  # fmt: skip
        assert answer.stdout.startswith(b"HTTP/1.0 200") and answer.stdout.endswith(b"\r\n\r\n1")


def test_the_guest_reaches_it_at_the_link_local_address_and_nothing_else_without_network() -> None:
    nic = GuestSetup(metadata_port=5000).nic()
    assert "guestfwd=tcp:169.254.169.254:80-cmd:" in nic and "-I " in nic and "localvm/relay.py 5000" in nic
    assert "restrict=on" in nic and "net=169.254.0.0/16" in nic
    assert "restrict=on" not in GuestSetup(metadata_port=5000, network=True).nic()
    assert GuestSetup().nic() == "none"


def imds(port: int, path: str, token: str | None = None, method: str = "GET",
         headers: dict[str, str] | None = None) -> tuple[int, bytes]:  # fmt: skip
    headers = {**({"X-aws-ec2-metadata-token": token} if token else {}), **(headers or {})}
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def test_imds_is_v2_only_and_serves_the_user_data_bytes_as_rendered() -> None:
    gzipped = b"\x1f\x8b\x08\x00binary user data"
    with Ec2Metadata(gzipped, "i-0123456789abcdef0") as server:
        assert imds(server.port, "/latest/meta-data/instance-id")[0] == 401  # IMDSv1 refused (HttpTokens=required)
        assert imds(server.port, "/latest/api/token", method="PUT")[0] == 400  # no TTL header
        status, token = imds(server.port, "/latest/api/token", method="PUT",
                             headers={"X-aws-ec2-metadata-token-ttl-seconds": "21600"})  # fmt: skip
        assert status == 200 and token
        assert imds(server.port, "/latest/meta-data/instance-id", "not-a-token")[0] == 401
        assert imds(server.port, "/2021-03-23/meta-data/instance-id", token.decode()) == (200, b"i-0123456789abcdef0")
        assert imds(server.port, "/latest/user-data", token.decode()) == (200, gzipped)  # byte for byte
        assert [s.path for s in server.fetched("/user-data")] == ["/latest/user-data"]


def test_imds_lists_the_tree_cloud_init_crawls() -> None:
    with Ec2Metadata(None, "i-0abc") as server:
        token = imds(server.port, "/latest/api/token", method="PUT",
                     headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})[1].decode()  # fmt: skip
        listing = imds(server.port, "/2021-03-23/meta-data/", token)[1].decode().splitlines()
        assert "instance-id" in listing and "placement/" in listing and "network/" in listing
        assert imds(server.port, f"/latest/meta-data/network/interfaces/macs/{GUEST_MAC}/device-number", token) == (
            200, b"0")  # fmt: skip
        assert imds(server.port, "/latest/meta-data/placement/region", token) == (200, b"eu-west-1")
        document = json.loads(imds(server.port, "/latest/dynamic/instance-identity/document", token)[1])
        assert document["instanceId"] == "i-0abc" and document["region"] == "eu-west-1"
        assert imds(server.port, "/latest/user-data", token)[0] == 404  # none given: as EC2
        assert imds(server.port, "/latest/meta-data/nothing/here", token)[0] == 404


def test_gce_answers_what_cloud_inits_gce_datasource_reads() -> None:
    with GceMetadata({"user-data": "#cloud-config\n"}, "77") as server:
        assert get(server.port, "instance/id") == (200, b"77")
        assert get(server.port, "instance/zone")[1].endswith(b"/zones/europe-west1-b")
        assert get(server.port, "instance/hostname")[0] == 200
        attributes = json.loads(get(server.port, "instance/attributes/?recursive=True")[1])
        assert attributes == {"user-data": "#cloud-config\n"}
        assert get(server.port, "project/attributes/?recursive=True") == (200, b"{}")


def test_every_test_target_is_accepted(capsys) -> None:
    from bootstrap.localvm.clients import CLIENTS
    from bootstrap.targets import TEST_TARGETS

    assert tuple(CLIENTS) == TEST_TARGETS == ("cloud-init", "ec2", "gce", "gce-user-data", "bash")
    assert main(["test", "base", "--target", "openstack"]) == 2  # before anything is built
    assert "invalid choice: 'openstack'" in capsys.readouterr().err
