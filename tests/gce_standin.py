"""A stand-in of the Compute Engine REST API (v1), enough for a bake, in the standard library.

The real ``google-cloud-compute`` client talks to it with ``transport="rest"``, an ``http://``
endpoint and anonymous credentials. It keeps instances, disks, images and operations in memory,
answers operations DONE at once (``wait`` included), and plays the guest: reading an instance's
serial port returns what our runner would print, for the instance's role, running the plan in the
startup script it was given; a builder that has printed its result is TERMINATED, as a guest that
powers itself off. ``faults`` injects errors.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from . import tiers
from .guest_sim import console_lines, layered_builder_console, rows_from_script

PUBLIC_PROJECT = "debian-cloud"
PUBLIC_FAMILY = "debian-12"
PUBLIC_IMAGE = "debian-12-bookworm-v20261101"


@dataclass
class Fault:
    status: int = 0  # an HTTP error answer (e.g. 429, 503, 403), ``times`` times
    times: int = 1_000_000
    operation_error: str = ""  # or: the call succeeds but its operation ends with this error
    after: int = 0  # calls of the action answered normally before the fault starts


@dataclass
class Compute:
    behaviour: dict[str, str] = field(default_factory=lambda: {"builder": "ok", "test": "ok"})
    faults: dict[str, Fault] = field(default_factory=dict)  # key: "instances.insert", "images.insert", ...
    slow: dict[str, float] = field(default_factory=dict)  # seconds before answering an action it has done
    instances: dict[str, dict] = field(default_factory=dict)  # by zone/name
    disks: dict[str, dict] = field(default_factory=dict)
    images: dict[str, dict] = field(default_factory=dict)  # by project/name
    machine_images: dict[str, dict] = field(default_factory=dict)  # by project/name
    operations: dict[str, dict] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    launched: list[str] = field(default_factory=list)  # each instance's source image, in order
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: Any = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.images[f"{PUBLIC_PROJECT}/{PUBLIC_IMAGE}"] = self._image_resource(
            PUBLIC_PROJECT, {"name": PUBLIC_IMAGE, "family": PUBLIC_FAMILY}, ""
        )

    def reset(self, **changes: Any) -> None:
        fresh = Compute()
        self.__dict__.update({k: v for k, v in fresh.__dict__.items() if k != "lock"})
        for key, value in changes.items():
            setattr(self, key, value)

    # -- resources ---------------------------------------------------------------------------
    def _image_resource(self, project: str, body: dict, source_disk: str) -> dict:
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}-00:00"
        return {
            "kind": "compute#image", "id": str(next(self.counter)), "name": body["name"],
            "family": body.get("family", ""), "labels": body.get("labels", {}), "status": "READY",
            "sourceDisk": source_disk, "selfLink": f"{self.base}/projects/{project}/global/images/{body['name']}",
            "creationTimestamp": stamp,
        }  # fmt: skip

    base = "https://compute.googleapis.com/compute/v1"

    def operation(self, project: str, zone: str | None, kind: str, target: str, error: str = "") -> dict:
        name = f"operation-{next(self.counter)}"
        op = {"kind": "compute#operation", "name": name, "status": "DONE", "operationType": kind,
              "targetLink": target, "progress": 100}  # fmt: skip
        if zone:
            op["zone"] = f"{self.base}/projects/{project}/zones/{zone}"
        if error:  # as GCE reports an asynchronous failure: in the operation, the call itself succeeded
            op["error"] = {"errors": [{"code": "RESOURCE_OPERATION_FAILED", "message": error}]}
        self.operations[name] = op
        return op

    # -- dispatch ----------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], body: dict) -> tuple[int, dict]:
        match = re.match(r"^/compute/v1/projects/([^/]+)/(.*)$", path)
        if not match:
            return 404, _error(404, f"no such path {path}")
        project, rest = match.groups()
        for pattern, action in ROUTES:
            found = re.fullmatch(pattern[1], rest)
            if found and pattern[0] == method:
                with self.lock:
                    self.calls.append(action)
                    fault = self.faults.get(action)
                    if fault and fault.after > 0:
                        fault.after -= 1
                        fault = None
                    if fault and fault.status and fault.times > 0:
                        fault.times -= 1
                        return fault.status, _error(fault.status, f"injected {fault.status} for {action}")
                    error = fault.operation_error if fault else ""
                    answer = getattr(self, "do_" + action.replace(".", "_"))(project, *found.groups(), query=query,
                                                                            body=body, error=error)  # fmt: skip
                time.sleep(self.slow.get(action, 0))  # done, but the client hears of it only later
                return answer
        return 404, _error(404, f"no route for {method} {rest}")

    # instances
    def do_instances_insert(self, project: str, zone: str, query: dict, body: dict, error: str) -> tuple[int, dict]:
        name = body["name"]
        key = f"{zone}/{name}"
        if key in self.instances:
            return 409, _error(409, f"instance {name} already exists")
        link = f"{self.base}/projects/{project}/zones/{zone}/instances/{name}"
        if not error:
            disk = f"{self.base}/projects/{project}/zones/{zone}/disks/{name}"
            source = body["disks"][0]["initializeParams"]["sourceImage"]
            self.disks[f"{zone}/{name}"] = {"name": name, "sourceImage": source}
            self.launched.append(source)
            self.instances[key] = {
                "kind": "compute#instance", "id": str(next(self.counter)), "name": name, "status": "RUNNING",
                "labels": body.get("labels", {}), "selfLink": link,
                "metadata": {**body.get("metadata", {}), "fingerprint": _fingerprint(body.get("metadata", {}))},
                "disks": [{"boot": True, "autoDelete": True, "source": disk, "deviceName": name}],
                "machineType": body.get("machineType", ""), "zone": f"{self.base}/projects/{project}/zones/{zone}",
            }  # fmt: skip
        return 200, self.operation(project, zone, "insert", link, error)

    def _instance(self, zone: str, name: str) -> dict | None:
        return self.instances.get(f"{zone}/{name}")

    def do_instances_get(self, project: str, zone: str, name: str, **_: Any) -> tuple[int, dict]:
        instance = self._instance(zone, name)
        return (200, instance) if instance else (404, _error(404, f"instance {name} not found"))

    def do_instances_list(self, project: str, zone: str, **_: Any) -> tuple[int, dict]:
        items = [i for key, i in self.instances.items() if key.startswith(f"{zone}/")]
        return 200, {"kind": "compute#instanceList", "items": items}

    def do_instances_delete(self, project: str, zone: str, name: str, error: str, **_: Any) -> tuple[int, dict]:
        if not self._instance(zone, name):
            return 404, _error(404, f"instance {name} not found")
        if not error:
            del self.instances[f"{zone}/{name}"]
            self.disks.pop(f"{zone}/{name}", None)  # autoDelete boot disk
        return 200, self.operation(project, zone, "delete", name, error)

    def do_instances_stop(self, project: str, zone: str, name: str, error: str, **_: Any) -> tuple[int, dict]:
        instance = self._instance(zone, name)
        if not instance:
            return 404, _error(404, f"instance {name} not found")
        instance["status"] = "TERMINATED"
        return 200, self.operation(project, zone, "stop", name, error)

    def do_instances_serial(self, project: str, zone: str, name: str, query: dict, **_: Any) -> tuple[int, dict]:
        instance = self._instance(zone, name)
        if not instance:
            return 404, _error(404, f"instance {name} not found")
        role = instance["labels"].get("bootstrap-role", "")
        profile = instance["labels"].get("bootstrap-profile", "")
        behaviour = self.behaviour.get(f"{role}:{profile}", self.behaviour.get(role, "ok"))
        text = ""
        items = {i["key"]: i["value"] for i in instance["metadata"].get("items", [])}
        script = items.get("startup-script") or items.get("user-data", "")
        if behaviour == "layered" and role == "builder":  # waits at each layer point for bootstrap-layer=N
            source = self.disks[f"{zone}/{name}"]["sourceImage"].rsplit("/global/images/", 1)
            below = self.images.get("/".join((source[0].rsplit("/", 1)[-1], source[1])), {})
            start = int(below.get("labels", {}).get("bootstrap-layer-index", "0"))
            text = layered_builder_console(script, start, int(items.get("bootstrap-layer", "0")))
            if "BOOTSTRAP-RESULT" in text:
                instance["status"] = "TERMINATED"
        elif behaviour != "silent" and "/usr/local/lib/bootstrap/plan" in script:
            rows = rows_from_script(script)
            text = console_lines(rows, role, behaviour.split(":", 1)[1] if ":" in behaviour else None)
            if role == "builder":
                instance["status"] = "TERMINATED"  # sealed or failed, the guest powers itself off
        start = int(query.get("start", "0") or 0)
        return 200, {"kind": "compute#serialPortOutput", "contents": text[start:], "start": str(start),
                     "next": str(len(text))}  # fmt: skip

    def do_instances_metadata(self, project: str, zone: str, name: str, body: dict, error: str,
                              **_: Any) -> tuple[int, dict]:  # fmt: skip
        instance = self._instance(zone, name)
        if not instance:
            return 404, _error(404, f"instance {name} not found")
        if body.get("fingerprint") != instance["metadata"].get("fingerprint"):  # optimistic locking, as GCE
            return 412, _error(412, "Supplied fingerprint does not match current metadata fingerprint")
        if not error:
            items = body.get("items", [])
            instance["metadata"] = {"items": items, "fingerprint": _fingerprint({"items": items})}
        return 200, self.operation(project, zone, "setMetadata", name, error)

    # images
    def do_images_insert(self, project: str, query: dict, body: dict, error: str) -> tuple[int, dict]:
        name = body["name"]
        if f"{project}/{name}" in self.images:
            return 409, _error(409, f"image {name} already exists")
        disk_key = "/".join(body.get("sourceDisk", "").split("/zones/")[-1].split("/disks/"))
        instance = self.instances.get(disk_key)
        if disk_key not in self.disks:
            return 400, _error(400, f"source disk {body.get('sourceDisk')} not found")
        if instance and instance["status"] == "RUNNING" and not query.get("forceCreate"):
            return 400, _error(400, "the source disk is attached to a running instance")
        link = f"{self.base}/projects/{project}/global/images/{name}"
        if not error:
            image = self._image_resource(project, body, body["sourceDisk"])
            image["labelFingerprint"] = _fingerprint(image.get("labels", {}))
            self.images[f"{project}/{name}"] = image
        return 200, self.operation(project, None, "insert", link, error)

    def do_images_get(self, project: str, name: str, **_: Any) -> tuple[int, dict]:
        image = self.images.get(f"{project}/{name}")
        return (200, image) if image else (404, _error(404, f"image {name} not found"))

    def do_images_family(self, project: str, family: str, **_: Any) -> tuple[int, dict]:
        images = [i for key, i in self.images.items() if key.startswith(f"{project}/") and i["family"] == family
                  and i.get("deprecated", {}).get("state") not in ("DEPRECATED", "OBSOLETE", "DELETED")]  # fmt: skip
        if not images:
            return 404, _error(404, f"no image in family {family}")
        return 200, max(images, key=lambda i: i["creationTimestamp"])

    def do_images_list(self, project: str, query: dict, **_: Any) -> tuple[int, dict]:
        items = [i for key, i in self.images.items() if key.startswith(f"{project}/")]
        items = [i for i in items if _matches(i, query.get("filter", ""))]
        return 200, {"kind": "compute#imageList", "items": items}

    def do_images_delete(self, project: str, name: str, error: str, **_: Any) -> tuple[int, dict]:
        if f"{project}/{name}" not in self.images:
            return 404, _error(404, f"image {name} not found")
        if not error:
            del self.images[f"{project}/{name}"]
        return 200, self.operation(project, None, "delete", name, error)

    def do_images_deprecate(self, project: str, name: str, body: dict, error: str, **_: Any) -> tuple[int, dict]:
        image = self.images.get(f"{project}/{name}")
        if not image:
            return 404, _error(404, f"image {name} not found")
        image["deprecated"] = body
        return 200, self.operation(project, None, "deprecate", name, error)

    def do_images_labels(self, project: str, name: str, body: dict, error: str, **_: Any) -> tuple[int, dict]:
        image = self.images.get(f"{project}/{name}")
        if not image:
            return 404, _error(404, f"image {name} not found")
        if body.get("labelFingerprint") != image.get("labelFingerprint"):  # as the real API: optimistic locking
            return 412, _error(412, "Labels fingerprint either invalid or resource labels have changed")
        image["labels"] = body.get("labels", {})
        image["labelFingerprint"] = _fingerprint(image["labels"])
        return 200, self.operation(project, None, "setLabels", name, error)

    def do_images_get_iam(self, project: str, name: str, **_: Any) -> tuple[int, dict]:
        return self._get_iam(self.images.get(f"{project}/{name}"), name)

    def do_images_set_iam(self, project: str, name: str, body: dict, error: str, **_: Any) -> tuple[int, dict]:
        return self._set_iam(self.images.get(f"{project}/{name}"), name, body)

    def _get_iam(self, resource: dict | None, name: str) -> tuple[int, dict]:
        if not resource:
            return 404, _error(404, f"{name} not found")
        return 200, resource.setdefault("iam", {"version": 1, "etag": "BwAAAA==", "bindings": []})

    def _set_iam(self, resource: dict | None, name: str, body: dict) -> tuple[int, dict]:
        if not resource:
            return 404, _error(404, f"{name} not found")
        current = resource.setdefault("iam", {"version": 1, "etag": "BwAAAA==", "bindings": []})
        policy = body.get("policy", {})
        if policy.get("etag") != current["etag"]:  # as IAM: a policy read before someone else's change
            return 409, _error(409, "There were concurrent policy changes")
        for binding in policy.get("bindings", []):
            for member in binding.get("members", []):
                if not re.fullmatch(r"(user|group|serviceAccount|domain):.+", member):
                    return 400, _error(400, f"Invalid member {member}")
        tag = int.from_bytes(base64.b64decode(current["etag"]), "big") + 1
        resource["iam"] = {"version": policy.get("version", 1), "bindings": policy.get("bindings", []),
                           "etag": base64.b64encode(tag.to_bytes(4, "big")).decode()}  # fmt: skip
        return 200, resource["iam"]

    # machine images
    def do_machine_insert(self, project: str, query: dict, body: dict, error: str) -> tuple[int, dict]:
        name = body["name"]
        if f"{project}/{name}" in self.machine_images:
            return 409, _error(409, f"machine image {name} already exists")
        zone_name = "/".join(body.get("sourceInstance", "").split("/zones/")[-1].split("/instances/"))
        instance = self.instances.get(zone_name)
        if instance is None:
            return 400, _error(400, f"source instance {body.get('sourceInstance')} not found")
        link = f"{self.base}/projects/{project}/global/machineImages/{name}"
        if not error:  # what a machine image keeps: the instance's disks, type, metadata
            self.machine_images[f"{project}/{name}"] = {
                "kind": "compute#machineImage", "name": name, "selfLink": link, "status": "READY",
                "sourceInstance": body["sourceInstance"], "labels": body.get("labels", {}),
                "sourceInstanceProperties": {"machineType": instance.get("machineType", ""),
                                             "metadata": instance.get("metadata", {}),
                                             "disks": instance.get("disks", [])}}  # fmt: skip
        return 200, self.operation(project, None, "insert", link, error)

    def do_machine_get(self, project: str, name: str, **_: Any) -> tuple[int, dict]:
        found = self.machine_images.get(f"{project}/{name}")
        return (200, found) if found else (404, _error(404, f"machine image {name} not found"))

    def do_machine_delete(self, project: str, name: str, error: str, **_: Any) -> tuple[int, dict]:
        if f"{project}/{name}" not in self.machine_images:
            return 404, _error(404, f"machine image {name} not found")
        if not error:
            del self.machine_images[f"{project}/{name}"]
        return 200, self.operation(project, None, "delete", name, error)

    def do_machine_get_iam(self, project: str, name: str, **_: Any) -> tuple[int, dict]:
        return self._get_iam(self.machine_images.get(f"{project}/{name}"), name)

    def do_machine_set_iam(self, project: str, name: str, body: dict, error: str, **_: Any) -> tuple[int, dict]:
        return self._set_iam(self.machine_images.get(f"{project}/{name}"), name, body)

    # operations
    def do_operations_zone(self, project: str, zone: str, name: str, **_: Any) -> tuple[int, dict]:
        op = self.operations.get(name)
        return (200, op) if op else (404, _error(404, f"operation {name} not found"))

    def do_operations_global(self, project: str, name: str, **_: Any) -> tuple[int, dict]:
        op = self.operations.get(name)
        return (200, op) if op else (404, _error(404, f"operation {name} not found"))


ROUTES = [
    (("POST", r"zones/([^/]+)/instances"), "instances.insert"),
    (("GET", r"zones/([^/]+)/instances"), "instances.list"),
    (("GET", r"zones/([^/]+)/instances/([^/]+)"), "instances.get"),
    (("DELETE", r"zones/([^/]+)/instances/([^/]+)"), "instances.delete"),
    (("POST", r"zones/([^/]+)/instances/([^/]+)/stop"), "instances.stop"),
    (("GET", r"zones/([^/]+)/instances/([^/]+)/serialPort"), "instances.serial"),
    (("POST", r"zones/([^/]+)/instances/([^/]+)/setMetadata"), "instances.metadata"),
    (("POST", r"global/images"), "images.insert"),
    (("GET", r"global/images"), "images.list"),
    (("GET", r"global/images/family/([^/]+)"), "images.family"),
    (("GET", r"global/images/([^/]+)"), "images.get"),
    (("DELETE", r"global/images/([^/]+)"), "images.delete"),
    (("POST", r"global/images/([^/]+)/deprecate"), "images.deprecate"),
    (("POST", r"global/images/([^/]+)/setLabels"), "images.labels"),
    (("GET", r"global/images/([^/]+)/getIamPolicy"), "images.get_iam"),
    (("POST", r"global/machineImages"), "machine.insert"),
    (("GET", r"global/machineImages/([^/]+)"), "machine.get"),
    (("DELETE", r"global/machineImages/([^/]+)"), "machine.delete"),
    (("GET", r"global/machineImages/([^/]+)/getIamPolicy"), "machine.get_iam"),
    (("POST", r"global/machineImages/([^/]+)/setIamPolicy"), "machine.set_iam"),
    (("POST", r"global/images/([^/]+)/setIamPolicy"), "images.set_iam"),
    (("GET", r"zones/([^/]+)/operations/([^/]+)"), "operations.zone"),
    (("POST", r"zones/([^/]+)/operations/([^/]+)/wait"), "operations.zone"),
    (("GET", r"global/operations/([^/]+)"), "operations.global"),
    (("POST", r"global/operations/([^/]+)/wait"), "operations.global"),
]


def _error(code: int, message: str) -> dict:
    reason = {404: "notFound", 409: "alreadyExists", 403: "forbidden", 429: "rateLimitExceeded"}.get(code, "error")
    return {"error": {"code": code, "message": message, "errors": [{"reason": reason, "message": message}]}}


def _fingerprint(labels: dict) -> str:
    return base64.b64encode(hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).digest()[:8]).decode()


def _matches(resource: dict, expression: str) -> bool:
    """The filter forms our backend sends: ``labels.K = "V"`` and ``family = "F"``, joined by AND."""
    for term in re.findall(r'([\w.-]+)\s*=\s*"([^"]*)"', expression):
        key, value = term
        actual = resource.get("labels", {}).get(key[7:]) if key.startswith("labels.") else resource.get(key)
        if actual != value:
            return False
    return True


class _Handler(BaseHTTPRequestHandler):
    compute: Compute
    disable_nagle_algorithm = True  # else every call waits ~40 ms on delayed ACKs

    def _answer(self, method: str) -> None:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}") if length else {}
        status, answer = self.compute.handle(method, url.path, query, body)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def do_DELETE(self) -> None:
        self._answer("DELETE")

    def log_message(self, *args: Any) -> None:
        pass


class ComputeServer:
    def __init__(self, compute: Compute):
        handler = type("Handler", (_Handler,), {"compute": compute})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ComputeServer:
        tiers.require("cloud", "starts the Compute API stand-in")
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
