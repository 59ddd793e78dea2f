"""moto behind a proxy that plays the guest, for a `bootstrap` command in another process.

In the test process a botocore event handler answers GetConsoleOutput (aws_fakes.FakeGuest); a
command started as a user types it is out of its reach. This proxy forwards every request to the
real moto server unchanged, except GetConsoleOutput, which it answers with the lines our runner
would print, read off the instance's own user data (the plan table it installs), stopping a
builder as a sealed guest powers itself off.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse
from xml.sax.saxutils import escape

from .aws_fakes import MotoServer
from .guest_sim import console_lines, rows_from_script

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class Ec2GuestProxy:
    def __init__(self, moto: MotoServer):
        self.moto = moto
        self.console_reads = 0
        handler = type("Handler", (_Handler,), {"proxy": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Ec2GuestProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def console(self, instance_id: str) -> str:
        """What the instance's guest prints: its role's steps from its user data, then its result."""
        self.console_reads += 1
        ec2 = self.moto.client("ec2")
        data = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        role = {t["Key"]: t["Value"] for t in data.get("Tags", [])}.get("bootstrap:role", "")
        raw = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")["UserData"]
        user_data = base64.b64decode(raw.get("Value", ""))
        if user_data[:2] == b"\x1f\x8b":  # gzipped when over EC2's 16 KiB, as cloud-init reads it
            user_data = gzip.decompress(user_data)
        text = console_lines(rows_from_script(user_data.decode()), role)
        if role == "builder" and data["State"]["Name"] == "running":
            ec2.stop_instances(InstanceIds=[instance_id])
        return text


class _Handler(BaseHTTPRequestHandler):
    proxy: Ec2GuestProxy
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        form = parse_qs(body.decode(errors="replace")) if body else {}
        if form.get("Action") == ["GetConsoleOutput"]:
            instance_id = form["InstanceId"][0]
            output = base64.b64encode(self.proxy.console(instance_id).encode()).decode()
            answer = (f'<?xml version="1.0" encoding="UTF-8"?>\n<GetConsoleOutputResponse '
                      f'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>guest</requestId>'
                      f"<instanceId>{escape(instance_id)}</instanceId><timestamp>2026-01-01T00:00:00.000Z</timestamp>"
                      f"<output>{output}</output></GetConsoleOutputResponse>").encode()  # fmt: skip
            self._reply(200, [("Content-Type", "text/xml")], answer)
            return
        target = urlparse(self.proxy.moto.endpoint)
        connection = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        connection.request(self.command, self.path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        self._reply(response.status, [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP], data)
        connection.close()

    def _reply(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _forward

    def log_message(self, *args: Any) -> None:
        pass
