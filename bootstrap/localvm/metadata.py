"""A stand-in of GCE's metadata server, for a local guest whose Google guest agent fetches its
startup-script as on GCE (`bootstrap test --target gce`).

It answers what the agent's script runner reads (measured with Debian's google-guest-agent
20211116: `project/project-id`, then `instance/attributes/?recursive=true&alt=json`), what our
runner reads (`instance/id`), and single attributes; it requires the `Metadata-Flavor: Google`
header (403 without, as GCE) and echoes it. QEMU's user network forwards the guest's
169.254.169.254:80 here (guestfwd). It records what it served, to whom, so the report shows which
bytes the guest received.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

PREFIX = "/computeMetadata/v1/"


@dataclass
class Served:
    path: str
    user_agent: str
    size: int
    sha256: str


@dataclass
class MetadataServer:
    attributes: dict[str, str]
    instance_id: str
    served: list[Served] = field(default_factory=list)

    def __post_init__(self) -> None:
        handler = type("Handler", (_Handler,), {"metadata": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> MetadataServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str) -> bytes | None:
        """The body for a metadata path (without the prefix), or None (404)."""
        if path in ("instance/attributes/", "instance/attributes"):
            return json.dumps(self.attributes).encode()
        if path.startswith("instance/attributes/"):
            value = self.attributes.get(path.removeprefix("instance/attributes/"))
            return None if value is None else value.encode()
        if path == "instance/id":
            return self.instance_id.encode()
        if path in ("project/attributes/", "project/attributes"):
            return b"{}"
        return None


class _Handler(BaseHTTPRequestHandler):
    metadata: MetadataServer
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if self.headers.get("Metadata-Flavor") != "Google" or not url.path.startswith(PREFIX):
            self._reply(403, b"Missing Metadata-Flavor:Google header.")
            return
        body = self.metadata.answer(url.path.removeprefix(PREFIX))
        if body is None:
            self._reply(404, b"not found")
            return
        self.metadata.served.append(Served(url.path, self.headers.get("User-Agent", ""), len(body),
                                           hashlib.sha256(body).hexdigest()))  # fmt: skip
        self._reply(200, body)

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Metadata-Flavor", "Google")
        self.send_header("Content-Type", "application/json" if body[:1] in (b"{", b"[") else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass
