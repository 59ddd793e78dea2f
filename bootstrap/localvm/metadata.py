"""Stand-ins of the clouds' metadata servers, for a local guest whose own clients fetch their user data
as on the cloud (`bootstrap test --target ec2|gce|gce-user-data`). QEMU's user network forwards the
guest's 169.254.169.254:80 here (guestfwd, a relay per connection). Each records what it served and
to whom, so the report shows which bytes the guest received.

GCE (`GceMetadata`): what Google's guest agent reads (measured with Debian's google-guest-agent
20211116: `project/project-id`, then `instance/attributes/?recursive=true&alt=json`), what
cloud-init's GCE datasource reads (`instance/id`, `zone`, `hostname`, attributes recursively), what
our runner reads (`instance/id`); `Metadata-Flavor: Google` required (403 without, as GCE).

EC2 (`Ec2Metadata`): IMDSv2 as an instance with `HttpTokens=required` answers it: `PUT
/latest/api/token` first, then every GET with `X-aws-ec2-metadata-token` (401 without); any API
version (`latest`, `2021-03-23`...); `meta-data/` as a tree cloud-init's Ec2 datasource crawls
(listings, leaves, the network interface of the guest's MAC), `dynamic/instance-identity/document`,
and `user-data` served exactly as rendered (gzipped or not; 404 when there is none, as EC2).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

GCE_PREFIX = "/computeMetadata/v1/"
GUEST_MAC = "52:54:00:b0:07:01"  # the guest NIC's MAC when a metadata server is forwarded (machine.py)
GUEST_IPV4 = "169.254.0.15"  # the first address QEMU's DHCP hands out in 169.254.0.0/16
ZONE, REGION = "europe-west1-b", "eu-west-1"


@dataclass
class Served:
    path: str
    user_agent: str
    size: int
    sha256: str


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class StandIn:
    """An HTTP server on 127.0.0.1 (a free port) answering through ``reply``; records each 200 it served."""

    def __init__(self) -> None:
        self.served: list[Served] = []
        handler = type("Handler", (_Handler,), {"stand_in": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reply(self, method: str, path: str, headers: Any) -> Reply:
        raise NotImplementedError

    def fetched(self, marker: str) -> list[Served]:
        """What the guest fetched whose path contains ``marker``, in order."""
        return [served for served in self.served if marker in served.path]


class GceMetadata(StandIn):
    def __init__(self, attributes: dict[str, str], instance_id: str) -> None:
        super().__init__()
        self.attributes = attributes
        self.instance_id = instance_id

    def answer(self, path: str) -> bytes | None:
        """The body for a metadata path (without the prefix), or None (404)."""
        if path in ("instance/attributes/", "instance/attributes"):
            return json.dumps(self.attributes).encode()
        if path.startswith("instance/attributes/"):
            value = self.attributes.get(path.removeprefix("instance/attributes/"))
            return None if value is None else value.encode()
        simple = {
            "instance/id": self.instance_id,
            "instance/zone": f"projects/123456789012/zones/{ZONE}",
            "instance/hostname": f"bootstrap-test.{ZONE}.c.bootstrap-test.internal",
            "instance/name": "bootstrap-test",
        }
        if path in simple:
            return simple[path].encode()
        if path in ("project/attributes/", "project/attributes"):
            return b"{}"
        return None

    def reply(self, method: str, path: str, headers: Any) -> Reply:
        flavor = {"Metadata-Flavor": "Google"}
        if method != "GET" or headers.get("Metadata-Flavor") != "Google" or not path.startswith(GCE_PREFIX):
            return Reply(403, b"Missing Metadata-Flavor:Google header.", flavor)
        body = self.answer(path.removeprefix(GCE_PREFIX))
        return Reply(404, b"not found", flavor) if body is None else Reply(200, body, flavor)


class Ec2Metadata(StandIn):
    def __init__(self, user_data: bytes | None, instance_id: str) -> None:
        super().__init__()
        self.user_data = user_data
        self.instance_id = instance_id
        self.tokens: set[str] = set()

    def tree(self) -> dict[str, Any]:
        """meta-data as nested folders (dicts) and leaves (str), the shape IMDS lists and serves."""
        interface = {"device-number": "0", "interface-id": "eni-0b0075770000001", "local-ipv4s": GUEST_IPV4,
                     "mac": GUEST_MAC, "owner-id": "123456789012", "subnet-id": "subnet-0b00757700000001",
                     "vpc-id": "vpc-0b0075770000001"}  # fmt: skip
        return {
            "ami-id": "ami-0b007577000000001", "ami-launch-index": "0", "hostname": "ip-169-254-0-15.ec2.internal",
            "instance-id": self.instance_id, "instance-type": "t3.medium", "local-hostname": "bootstrap-test",
            "local-ipv4": GUEST_IPV4, "mac": GUEST_MAC,
            "placement": {"availability-zone": f"{REGION}a", "region": REGION},
            "network": {"interfaces": {"macs": {GUEST_MAC: interface}}},
            "services": {"domain": "amazonaws.com", "partition": "aws"},
        }  # fmt: skip

    def identity(self) -> bytes:
        return json.dumps({"accountId": "123456789012", "architecture": "x86_64", "availabilityZone": f"{REGION}a",
                           "imageId": "ami-0b007577000000001", "instanceId": self.instance_id,
                           "instanceType": "t3.medium", "privateIp": GUEST_IPV4, "region": REGION,
                           "version": "2017-09-30"}, indent=2).encode()  # fmt: skip

    def reply(self, method: str, path: str, headers: Any) -> Reply:
        if method == "PUT":
            ttl = headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
            if path != "/latest/api/token" or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                return Reply(400, b"")
            token = secrets.token_urlsafe(32)
            self.tokens.add(token)
            return Reply(200, token.encode(), {"X-aws-ec2-metadata-token-ttl-seconds": ttl})
        if method != "GET":
            return Reply(405, b"")
        if headers.get("X-aws-ec2-metadata-token") not in self.tokens:
            return Reply(401, b"")  # HttpTokens=required: IMDSv1 is refused
        _, _, rest = path.lstrip("/").partition("/")  # the API version: any
        if rest == "user-data":
            return Reply(404, b"") if self.user_data is None else Reply(200, self.user_data)
        if rest in ("dynamic/instance-identity/", "dynamic/instance-identity"):
            return Reply(200, b"document")
        if rest == "dynamic/instance-identity/document":
            return Reply(200, self.identity())
        if rest.startswith("meta-data"):
            node: Any = self.tree()
            for part in [p for p in rest.removeprefix("meta-data").split("/") if p]:
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, dict):
                return Reply(200, "\n".join(f"{k}/" if isinstance(v, dict) else k for k, v in node.items()).encode())
            if isinstance(node, str):
                return Reply(200, node.encode())
        return Reply(404, b"")


class _Handler(BaseHTTPRequestHandler):
    stand_in: StandIn
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._answer("GET")

    def do_PUT(self) -> None:
        self._answer("PUT")

    def _answer(self, method: str) -> None:
        path = urlparse(self.path).path
        reply = self.stand_in.reply(method, path, self.headers)
        if reply.status == 200 and method == "GET":
            self.stand_in.served.append(Served(path, self.headers.get("User-Agent", ""), len(reply.body),
                                               hashlib.sha256(reply.body).hexdigest()))  # fmt: skip
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json" if reply.body[:1] in (b"{", b"[") else "text/plain")
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, *args: Any) -> None:
        pass
