"""AWS for the tests: a real moto server on 127.0.0.1, and a simulated guest.

moto runs no machines: its console output is canned and its instances never stop by themselves.
``FakeGuest`` plays the guest: when the baker reads an instance's console, it answers with the
lines our runner would print for that instance's role (builder: the image-scope steps, then
``sealed``, and the instance is stopped as a sealed builder powers itself off; test instance:
baked steps skipped, the rest run), or with a fault the test asks for.
"""

from __future__ import annotations

import base64
import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bootstrap.plan import Plan

from .guest_sim import console_lines, layered_builder_console

REGION = "eu-west-1"
SOURCE_PARAMETER = "/aws/service/ami-amazon-linux-latest/amzn2-ami-hvm-x86_64-gp2"  # moto publishes it


@dataclass
class MotoServer:
    endpoint: str
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict)

    def session(self) -> Any:
        """A fresh session (a test registers its own event handlers on it)."""
        import boto3

        return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)

    def client(self, service: str, region: str = REGION) -> Any:
        """The tests' own client, to look at what a bake left: one per service and region for the whole run
        (moto's reset keeps its endpoint; a client costs a tenth of a second to make)."""
        if (service, region) not in self._clients:
            self._clients[service, region] = self.session().client(service, region_name=region,
                                                                    endpoint_url=self.endpoint)  # fmt: skip
        return self._clients[service, region]

    def reset(self) -> None:
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")).read()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    pytest.importorskip("boto3")
    server_module = pytest.importorskip("moto.server")
    import botocore.loaders
    import botocore.session

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # Every boto3 session (each backend the tests or the CLI make has its own) reads AWS's service models
    # through one loader, which caches what it parsed: a new session's EC2 client then takes 0.05 s, not
    # 0.3. The loader is botocore's own; only its lifetime changes.
    shared_loader = functools.cache(botocore.loaders.create_loader)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(botocore.session, "create_loader", shared_loader)
            yield MotoServer(f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    moto_server.reset()
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL_SSM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return moto_server


@dataclass
class FakeGuest:
    """Answers GetConsoleOutput for the baker's session; ``behaviour`` per role: ok, fail:<step>, silent."""

    server: MotoServer
    plan: Plan
    behaviour: dict[str, str] = field(default_factory=lambda: {"builder": "ok", "test": "ok"})
    user_data: dict[str, bytes] = field(default_factory=dict)

    def attach(self, session: Any) -> None:
        session.events.register("before-call.ec2.GetConsoleOutput", self._console)

    def _console(self, params: dict, model: Any, **kwargs: Any) -> tuple[Any, dict]:
        from botocore.awsrequest import AWSResponse

        instance_id = params["body"]["InstanceId"]  # the serialized EC2 query
        ec2 = self.server.client("ec2")
        data = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        role = {t["Key"]: t["Value"] for t in data.get("Tags", [])}.get("bootstrap:role", "")
        if instance_id not in self.user_data:
            raw = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
            self.user_data[instance_id] = base64.b64decode(raw["UserData"]["Value"])
        behaviour = self.behaviour.get(role, "ok")
        text = ""
        if behaviour == "layered":  # a builder that waits at each layer point for its tag bootstrap-layer=N
            text = self._layered(ec2, data, instance_id)
        elif behaviour != "silent":
            text = console_lines(self.plan, role, behaviour.split(":", 1)[1] if ":" in behaviour else None)
            if role == "builder" and data["State"]["Name"] == "running":
                ec2.stop_instances(InstanceIds=[instance_id])  # the guest powers itself off after its result
        output = base64.b64encode(text.encode()).decode()
        return AWSResponse("http://fake", 200, {}, None), {"InstanceId": instance_id, "Output": output}

    def _layered(self, ec2: Any, data: dict, instance_id: str) -> str:
        import gzip

        raw = self.user_data[instance_id]
        script = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode()
        [source] = ec2.describe_images(ImageIds=[data["ImageId"]])["Images"]
        start = {t["Key"]: t["Value"] for t in source.get("Tags", [])}.get("bootstrap:layer-index", "0")
        told = {t["Key"]: t["Value"] for t in data.get("Tags", [])}.get("bootstrap-layer", "0")
        text = layered_builder_console(script, int(start), int(told))
        if "BOOTSTRAP-RESULT" in text and data["State"]["Name"] == "running":
            ec2.stop_instances(InstanceIds=[instance_id])
        return text


class Throttle:
    """A storm: the next ``count`` requests for ``operation`` answer 503 RequestLimitExceeded."""

    def __init__(self, session: Any, operation: str, count: int):
        self.left = count
        self.seen = 0
        session.events.register(f"before-send.ec2.{operation}", self._send)

    def _send(self, request: Any, **kwargs: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        self.seen += 1
        if self.left <= 0:
            return None
        self.left -= 1
        body = (b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded."
                b"</Message></Error></Errors><RequestID>storm</RequestID></Response>")  # fmt: skip
        return AWSResponse(request.url, 503, {}, _Raw(body))


class Fail:
    """Every request for ``operation`` answers this AWS error (e.g. InsufficientInstanceCapacity)."""

    def __init__(self, session: Any, service: str, operation: str, code: str, status: int = 400):
        self.code, self.status = code, status
        session.events.register(f"before-send.{service}.{operation}", self._send)

    def _send(self, request: Any, **kwargs: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        body = f"<Response><Errors><Error><Code>{self.code}</Code><Message>injected</Message></Error></Errors>" \
               "<RequestID>fault</RequestID></Response>"  # fmt: skip
        return AWSResponse(request.url, self.status, {}, _Raw(body.encode()))


class Simulated:
    """An EC2 query API moto does not have, answered at the botocore layer as AWS answers it (``return``
    true), each request's parameters recorded."""

    def __init__(self, session: Any, operation: str):
        self.operation, self.requests = operation, list[dict[str, str]]()
        session.events.register(f"before-send.ec2.{operation}", self._send)

    def _send(self, request: Any, **kwargs: Any) -> Any:
        from urllib.parse import parse_qsl

        from botocore.awsrequest import AWSResponse

        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
        self.requests.append(dict(parse_qsl(body)))
        answer = f'<{self.operation}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>sim' \
                 f"</requestId><return>true</return></{self.operation}Response>"  # fmt: skip
        return AWSResponse(request.url, 200, {}, _Raw(answer.encode()))


class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self.body


class Recorder:
    """Remembers every image the baker created and every snapshot it saw behind them."""

    def __init__(self, session: Any):
        self.images: set[str] = set()
        self.snapshots: set[str] = set()
        for operation in ("CreateImage", "CopyImage", "DescribeImages"):
            session.events.register(f"after-call.ec2.{operation}", self._after)

    def _after(self, parsed: dict, **kwargs: Any) -> None:
        if "ImageId" in parsed:
            self.images.add(parsed["ImageId"])
        for image in parsed.get("Images", []):
            if image["ImageId"] in self.images:
                self.snapshots |= {m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings", []) if "Ebs" in m}

    def leftover_snapshots(self, server: MotoServer, regions: tuple[str, ...]) -> list[str]:
        left = []
        for snapshot in sorted(self.snapshots):
            for region in regions:
                try:
                    server.client("ec2", region).describe_snapshots(SnapshotIds=[snapshot])
                    left.append(snapshot)
                except Exception as exc:  # NotFound is the good answer
                    if "NotFound" not in str(exc):
                        raise
        return left
