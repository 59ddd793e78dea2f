"""The EC2 instance metadata service's stand-in, for a local guest whose own clients fetch their user data
as on EC2 (`bootstrap test --target ec2`; shared machinery: bootstrap/localvm/metadata.py).

EC2 (`Ec2Metadata`): IMDSv2 as an instance with `HttpTokens=required` answers it: `PUT
/latest/api/token` first, then every GET with `X-aws-ec2-metadata-token` (401 without); any API
version (`latest`, `2021-03-23`...); `meta-data/` as a tree cloud-init's Ec2 datasource crawls
(listings, leaves, the network interface of the guest's MAC), `dynamic/instance-identity/document`,
and `user-data` served exactly as rendered (gzipped or not; 404 when there is none, as EC2). ``tags``: the
instance's tags under `meta-data/tags/instance/`, as an instance launched with InstanceMetadataTags=enabled
(None: not enabled, the folder absent); a builder's runner reads the host's word at a layer point there.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from ...localvm.metadata import GUEST_IPV4, GUEST_MAC, Reply, StandIn

REGION = "eu-west-1"


class Ec2Metadata(StandIn):
    def __init__(self, user_data: bytes | None, instance_id: str) -> None:
        super().__init__()
        self.user_data = user_data
        self.instance_id = instance_id
        self.tokens: set[str] = set()
        self.tags: dict[str, str] | None = None

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
            **({"tags": {"instance": dict(self.tags)}} if self.tags is not None else {}),
        }  # fmt: skip

    def identity(self) -> bytes:
        return json.dumps({"accountId": "123456789012", "architecture": "x86_64", "availabilityZone": f"{REGION}a",
                           "imageId": "ami-0b007577000000001", "instanceId": self.instance_id,
                           "instanceType": "t3.medium", "privateIp": GUEST_IPV4, "region": REGION,
                           "version": "2017-09-30"}, indent=2).encode()  # fmt: skip

    def reply(self, method: str, path: str, headers: Any, query: str = "") -> Reply:
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
