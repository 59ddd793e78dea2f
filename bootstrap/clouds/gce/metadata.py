"""The GCE metadata server's stand-in, for a local guest whose own clients fetch their user data as on GCE
(`bootstrap test --target gce|gce-user-data`; shared machinery: bootstrap/localvm/metadata.py).

GCE (`GceMetadata`): what Google's guest agent reads (measured with Debian's google-guest-agent
20211116: `project/project-id`, then `instance/attributes/?recursive=true&alt=json`), what
cloud-init's GCE datasource reads (`instance/id`, `zone`, `hostname`, attributes recursively), what
our runner reads (`instance/id`; a builder's, `instance/attributes/bootstrap-layer` with
`wait_for_change=true`: the answer waits until the value differs from the one asked with, or
`timeout_sec`, as GCE's); `Metadata-Flavor: Google` required (403 without, as GCE). ``set_attribute``
changes one as the host's setMetadata would, waking who waits.
"""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import parse_qs

from ...localvm.metadata import Reply, StandIn

GCE_PREFIX = "/computeMetadata/v1/"
ZONE = "europe-west1-b"


class GceMetadata(StandIn):
    def __init__(self, attributes: dict[str, str], instance_id: str) -> None:
        super().__init__()
        self.attributes = attributes
        self.instance_id = instance_id
        self.changed = threading.Condition()

    def set_attribute(self, key: str, value: str) -> None:
        with self.changed:
            self.attributes[key] = value
            self.changed.notify_all()

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

    def reply(self, method: str, path: str, headers: Any, query: str = "") -> Reply:
        flavor = {"Metadata-Flavor": "Google"}
        if method != "GET" or headers.get("Metadata-Flavor") != "Google" or not path.startswith(GCE_PREFIX):
            return Reply(403, b"Missing Metadata-Flavor:Google header.", flavor)
        asked = {k: v[0] for k, v in parse_qs(query).items()}
        body = self.answer(path.removeprefix(GCE_PREFIX))
        if asked.get("wait_for_change") == "true" and body is not None:
            timeout = float(asked.get("timeout_sec", "60"))
            with self.changed:  # until the value is another than the one there when asked
                self.changed.wait_for(lambda: self.answer(path.removeprefix(GCE_PREFIX)) != body, timeout)
                body = self.answer(path.removeprefix(GCE_PREFIX))
        return Reply(404, b"not found", flavor) if body is None else Reply(200, body, flavor)
