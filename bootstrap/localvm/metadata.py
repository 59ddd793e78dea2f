"""Stand-ins of the clouds' metadata servers, for a local guest whose own clients fetch their user data
as on the cloud (`bootstrap test --target ec2|gce|gce-user-data`). QEMU's user network forwards the
guest's 169.254.169.254:80 here (guestfwd, a relay per connection). Each records what it served and
to whom, so the report shows which bytes the guest received.

Each cloud's own stand-in is in its folder: clouds/ec2/metadata.py (IMDSv2), clouds/gce/metadata.py.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

GUEST_MAC = "52:54:00:b0:07:01"  # the guest NIC's MAC when a metadata server is forwarded (machine.py)
GUEST_IPV4 = "169.254.0.15"  # the first address QEMU's DHCP hands out in 169.254.0.0/16


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

    instance_id: str  # the instance it tells the guest it is (a relaunch hands it a new one)

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

    def reply(self, method: str, path: str, headers: Any, query: str = "") -> Reply:
        raise NotImplementedError

    def fetched(self, marker: str) -> list[Served]:
        """What the guest fetched whose path contains ``marker``, in order."""
        return [served for served in self.served if marker in served.path]


class _Handler(BaseHTTPRequestHandler):
    stand_in: StandIn
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._answer("GET")

    def do_PUT(self) -> None:
        self._answer("PUT")

    def _answer(self, method: str) -> None:
        url = urlparse(self.path)
        path = url.path
        reply = self.stand_in.reply(method, path, self.headers, url.query)
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
