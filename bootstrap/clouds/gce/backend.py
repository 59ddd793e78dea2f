"""The GCE backend: images baked with google-cloud-compute (imported here only), REST transport.

Credentials: Application Default Credentials unless given. ``endpoint`` (or the environment's
``BOOTSTRAP_GCE_ENDPOINT``) points the clients at another Compute API (tests: a stand-in on
127.0.0.1; it must carry its scheme, or the client switches to https). Operations are waited on
with the zone/global operations clients' ``wait`` (``ExtendedOperation.result()`` would poll the
default Google host), and their ``error`` is checked here: an operation error without an HTTP
status does not raise by itself. Labels spell our tags with '-' for ':'.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from ... import interrupts
from ...bake.backend import (
    CHANNEL_WAS,
    LAYER_WORD,
    OWNER,
    ROLE_LAYER,
    TAG_DEPRECATED,
    TAG_EXPIRES,
    TAG_LAYER_INDEX,
    TAG_LAYER_KEY,
    TAG_OWNER,
    TAG_PROFILE,
    TAG_PROMOTED,
    TAG_ROLE,
    Backend,
    Capability,
    Identity,
    Image,
    Instance,
    Pending,
    Source,  # fmt: skip
    layer_born,
    layer_name,
    reap_verdict,
)
from ...bake.waiting import retry
from ...errors import BackendError
from . import vocabulary
from .vocabulary import (
    DEFAULT_MACHINE_TYPE,
    TAG_MACHINE_IMAGE,
    channel_label,
    label,
    labels,
    machine_image_name,
)

OPERATION_TIMEOUT = 1800
IMAGE_USER = "roles/compute.imageUser"  # may list and launch the image (or restore the machine image)


class GceBackend(Backend):
    name = "gce"
    capabilities = frozenset({Capability.CHANNELS, Capability.DEPRECATE, Capability.SHARE, Capability.LAYERS})
    refusal_notes = {Capability.COPY: "GCE images are global",
                     Capability.LAYERS: "a builder given cloud-init user data (--gce-user-data) waits at no layer "
                                        "point on GCE"}  # fmt: skip

    def __init__(self, *, project: str, zone: str, source: str, machine_type: str = DEFAULT_MACHINE_TYPE,
                 family: str | None = None, subnetwork: str | None = None, endpoint: str | None = None,
                 credentials: Any = None, cloud_init: bool = False, machine_image: bool = False,
                 poll_first: float = 0.2, retry_first: float = 0.5,
                 progress: Callable[[str], None] | None = None):  # fmt: skip
        from google.cloud import compute_v1

        # Images with cloud-init (Ubuntu's) can take cloud-init user data instead of a startup script.
        self.target = "cloud-init" if cloud_init else "gce"
        self.metadata_key = "user-data" if cloud_init else "startup-script"
        if cloud_init:  # cloud-init's runner asks EC2's metadata service for the host's word at a layer point
            self.capabilities = GceBackend.capabilities - {Capability.LAYERS}

        self.compute = compute_v1
        self.project, self.zone, self.source = project, zone, source
        self.machine_type = machine_type
        self.family = family
        self.subnetwork = subnetwork
        self.poll_first, self.retry_first = poll_first, retry_first
        self.progress = progress
        self._consoles: dict[str, tuple[str, int]] = {}  # instance -> (console so far, next offset)
        options = {"api_endpoint": endpoint} if endpoint else None
        kwargs: dict[str, Any] = {"transport": "rest", "client_options": options}
        if credentials is not None:
            kwargs["credentials"] = credentials
        self.instances = compute_v1.InstancesClient(**kwargs)
        self.images = compute_v1.ImagesClient(**kwargs)
        self.machine_images = compute_v1.MachineImagesClient(**kwargs)
        self.machine_image = machine_image  # also save the sealed builder whole (disks, type, metadata)
        self.zone_operations = compute_v1.ZoneOperationsClient(**kwargs)
        self.global_operations = compute_v1.GlobalOperationsClient(**kwargs)

    # -- calls and operations ----------------------------------------------------------------
    def call(self, what: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from google.api_core import exceptions

        try:
            return retry(lambda: function(*args, **kwargs), transient=_transient, first=self.retry_first,
                         what=f"gce {what}", say=self.progress)  # fmt: skip
        except exceptions.GoogleAPICallError as exc:
            raise BackendError(f"gce {what}: {exc.code} {exc.message}") from exc
        except exceptions.RetryError as exc:
            raise BackendError(f"gce {what}: {exc}") from exc

    def finish(self, what: str, operation: Any, zone: str | None = None) -> None:
        """Wait for an operation to be DONE (bounded), then fail on its error, which may not have raised."""
        name = operation.name
        deadline = time.monotonic() + OPERATION_TIMEOUT
        done = self.compute.Operation.Status.DONE
        while True:
            if zone:
                current = self.call(f"{what} (wait)", self.zone_operations.wait, project=self.project, zone=zone,
                                    operation=name)  # fmt: skip
            else:
                current = self.call(f"{what} (wait)", self.global_operations.wait, project=self.project,
                                    operation=name)  # fmt: skip
            if current.status == done:
                break
            if time.monotonic() > deadline:
                raise BackendError(f"gce {what}: operation {name} not done after {OPERATION_TIMEOUT}s")
        errors = list(current.error.errors) if current.error else []
        if errors or current.http_error_status_code:
            detail = "; ".join(f"{e.code}: {e.message}" for e in errors) or current.http_error_message
            raise BackendError(f"gce {what}: operation {name} failed: {detail}")

    # -- source and lookup -------------------------------------------------------------------
    def resolve_source(self, create: bool = True) -> Source:  # a lookup: creates nothing
        match = re.fullmatch(r"projects/([^/]+)/global/images/(family/)?([^/]+)", self.source)
        if not match:
            raise BackendError(f"gce source {self.source!r}: expected projects/P/global/images/NAME or "
                               "projects/P/global/images/family/F (e.g. projects/debian-cloud/global/images/family/"
                               "debian-12)")  # fmt: skip
        project, family, name = match.groups()
        if family:
            image = self.call("images.getFromFamily", self.images.get_from_family, project=project, family=name)
        else:
            image = self.call("images.get", self.images.get, project=project, image=name)
        via = f" (family {name})" if family else ""
        return Source(f"projects/{project}/global/images/{image.name}", f"{project}/{image.name}{via}",
                      label=label(image.name))  # fmt: skip

    def _list_images(self, filter_: str) -> list[Image]:
        request = self.compute.ListImagesRequest(project=self.project, filter=filter_)
        found = self.call("images.list", self.images.list, request=request)
        return [self._image(i) for i in found if not (i.deprecated and i.deprecated.state == "DELETED")]

    def _image(self, image: Any) -> Image:
        created = datetime.fromisoformat(image.creation_timestamp).timestamp() if image.creation_timestamp else 0
        return Image(image.name, image.name, "", created,
                     {"self_link": image.self_link, "family": image.family, "labels": dict(image.labels),
                      "tags": dict(image.labels), "label_fingerprint": image.label_fingerprint,
                      "status": image.status})  # fmt: skip

    def find_image(self, identity: Identity) -> Image | None:
        """The newest promoted image of this identity (an untested leftover does not count as built)."""
        terms = " AND ".join(f'labels.{k} = "{v}"' for k, v in labels(identity.tags()).items())
        images = [i for i in self._list_images(terms) if label(TAG_PROMOTED) in i.details["labels"]]
        images.sort(key=lambda i: (i.created, i.name), reverse=True)
        return images[0] if images else None

    def list_images(self, profile: str) -> list[Image]:
        tags = labels({TAG_OWNER: OWNER, TAG_PROFILE: profile, TAG_ROLE: "image"})
        return self._list_images(" AND ".join(f'labels.{k} = "{v}"' for k, v in tags.items()))

    # -- machines ----------------------------------------------------------------------------
    def launch(self, role: str, source: str, user_data: bytes, tags: dict[str, str]) -> Instance:
        name = label(f"bootstrap-{role}-{tags.get(TAG_PROFILE, '')}")[:54].rstrip("-") + f"-{uuid.uuid4().hex[:8]}"
        image = source if "/" in source else f"projects/{self.project}/global/images/{source}"
        network = {"subnetwork": self.subnetwork} if self.subnetwork else {"network": "global/networks/default"}
        resource = {
            "name": name, "machine_type": f"zones/{self.zone}/machineTypes/{self.machine_type}",
            "labels": labels(tags),
            "disks": [{"boot": True, "auto_delete": True, "initialize_params": {"source_image": image}}],
            "network_interfaces": [network],
            "metadata": {"items": [{"key": self.metadata_key, "value": user_data.decode()},
                                   {"key": "serial-port-logging-enable", "value": "true"}]},
        }  # fmt: skip
        operation = self.call("instances.insert", self.instances.insert, project=self.project, zone=self.zone,
                              instance_resource=resource)  # fmt: skip
        instance = Instance(name, role, self.zone)
        try:
            self.finish("instances.insert", operation, self.zone)
        except BackendError:
            self._delete_quietly(instance)  # an insert that failed late may still have made something
            raise
        return instance

    def _get(self, instance: Instance) -> Any:
        return self.call("instances.get", self.instances.get, project=self.project, zone=self.zone,
                         instance=instance.id)  # fmt: skip

    def console(self, instance: Instance) -> str:
        """Serial port 1, read on from where the last call stopped."""
        text, start = self._consoles.get(instance.id, ("", 0))
        request = self.compute.GetSerialPortOutputInstanceRequest(
            project=self.project, zone=self.zone, instance=instance.id, port=1, start=start
        )
        output = self.call("instances.getSerialPortOutput", self.instances.get_serial_port_output, request=request)
        text += output.contents
        self._consoles[instance.id] = (text, output.next_ or start)
        return text

    def state(self, instance: Instance) -> str:
        from google.api_core import exceptions

        try:
            status = self._get(instance).status
        except BackendError as exc:
            if isinstance(exc.__cause__, exceptions.NotFound):
                return "gone"
            raise
        return "stopped" if status == "TERMINATED" else "running"  # TERMINATED: powered off, disk kept

    def create_image(self, instance: Instance, name: str, tags: dict[str, str]) -> Image:
        disk = self._get(instance).disks[0].source
        family = self.family or vocabulary.family(tags.get(TAG_PROFILE, ""))
        resource = {"name": name, "family": family, "source_disk": disk, "labels": labels(tags),
                    "description": f"bootstrap golden image of profile {tags.get(TAG_PROFILE)}"}  # fmt: skip
        operation = self.call("images.insert", self.images.insert, project=self.project, image_resource=resource)
        try:
            self.finish("images.insert", operation)
            if self.machine_image:
                self._save_machine(instance, name, tags)
            image = self.call("images.get", self.images.get, project=self.project, image=name)
        except BaseException:  # a failure or a signal: nobody else knows this image exists
            with interrupts.shielded():
                self._delete_image_quietly(name)
            raise
        return self._image(image)

    def _save_machine(self, instance: Instance, name: str, tags: dict[str, str]) -> None:
        """A machine image of the sealed builder: all its disks, machine type, GPU and metadata, so a
        colleague restores the whole VM in one call. Named after the image, labelled like it."""
        source = f"projects/{self.project}/zones/{instance.region or self.zone}/instances/{instance.id}"
        resource = {"name": machine_image_name(name), "source_instance": source, "labels": labels(tags),
                    "description": f"bootstrap machine of profile {tags.get(TAG_PROFILE)} (image {name})"}  # fmt: skip
        operation = self.call("machineImages.insert", self.machine_images.insert, project=self.project,
                              machine_image_resource=resource)  # fmt: skip
        self.finish("machineImages.insert", operation)
        mark = {label(TAG_MACHINE_IMAGE): machine_image_name(name)}
        self._label(Image(name, name), mark)

    # -- layers (bootstrap/layers.py): an image per layer, in no family ----------------------------------
    def make_layer(self, instance: Instance, tags: dict[str, str]) -> Image:
        """An image of the running builder's boot disk (force_create: its runner is waiting, its disk synced),
        labelled with ``tags``; once it is made, the builder is told to go on (its metadata bootstrap-layer=N,
        which the runner waits on). A failure or a signal deletes the image. Labels keep the key's first 63
        characters (vocabulary.label), as every label value."""
        name = layer_name(tags)
        disk = self._get(instance).disks[0].source
        resource = {"name": name, "source_disk": disk, "labels": labels(tags),
                    "description": f"bootstrap layer {tags.get(TAG_LAYER_INDEX)} of profile {tags.get(TAG_PROFILE)}"}
        request = self.compute.InsertImageRequest(project=self.project, image_resource=resource, force_create=True)
        operation = self.call("images.insert", self.images.insert, request=request)
        try:
            self.finish("images.insert", operation)
            image = self._image(self.call("images.get", self.images.get, project=self.project, image=name))
        except BaseException:
            with interrupts.shielded():
                self._delete_image_quietly(name)
            raise
        self._tell(instance, tags.get(TAG_LAYER_INDEX, ""))
        return image

    def _tell(self, instance: Instance, index: str) -> None:
        """The builder's metadata bootstrap-layer=``index`` (setMetadata wants the current fingerprint)."""
        metadata = self._get(instance).metadata
        items = [{"key": i.key, "value": i.value} for i in metadata.items if i.key != LAYER_WORD]
        resource = {"fingerprint": metadata.fingerprint, "items": [*items, {"key": LAYER_WORD, "value": index}]}
        zone = instance.region or self.zone
        operation = self.call("instances.setMetadata", self.instances.set_metadata, project=self.project, zone=zone,
                              instance=instance.id, metadata_resource=resource)  # fmt: skip
        self.finish("instances.setMetadata", operation, zone)

    def _layers(self, **more: str) -> list[Image]:
        wanted = labels({TAG_OWNER: OWNER, TAG_ROLE: ROLE_LAYER, **more})
        return self._list_images(" AND ".join(f'labels.{k} = "{v}"' for k, v in wanted.items()))

    def find_layer(self, key: str, born_after: float) -> Image | None:
        """The newest READY image labelled with this key born after ``born_after``. An image is whole by
        itself: deleting the layer below it breaks nothing."""
        found = [i for i in self._layers(**{TAG_LAYER_KEY: key})
                 if i.details["status"] == "READY" and layer_born(i) > born_after]  # fmt: skip
        return max(found, key=lambda i: (i.created, i.name), default=None)

    def list_layers(self) -> list[Image]:
        return self._layers()

    def delete_instance(self, instance: Instance) -> None:
        zone = instance.region or self.zone
        operation = self._unless_gone("instances.delete", self.instances.delete, project=self.project, zone=zone,
                                      instance=instance.id)  # fmt: skip
        if operation is not None:
            self.finish("instances.delete", operation, zone)

    def delete_image(self, image: Image) -> None:
        """The image, and its machine image when it has one (or this backend makes them: a half-made one)."""
        if self.machine_image or label(TAG_MACHINE_IMAGE) in image.details.get("labels", {}):
            operation = self._unless_gone("machineImages.delete", self.machine_images.delete, project=self.project,
                                          machine_image=self._machine_of(image))  # fmt: skip
            if operation is not None:
                self.finish("machineImages.delete", operation)
        operation = self._unless_gone("images.delete", self.images.delete, project=self.project, image=image.id)
        if operation is not None:
            self.finish("images.delete", operation)

    def _unless_gone(self, what: str, function: Callable[..., Any], **kwargs: Any) -> Any:
        """A delete call; None when the resource is already gone (deleting twice is not an error)."""
        from google.api_core import exceptions

        try:
            return self.call(what, function, **kwargs)
        except BackendError as exc:
            if isinstance(exc.__cause__, exceptions.NotFound):
                return None
            raise

    def _delete_quietly(self, instance: Instance) -> None:
        with contextlib.suppress(BackendError):
            self.delete_instance(instance)

    def _delete_image_quietly(self, name: str) -> None:
        with contextlib.suppress(BackendError):
            self.delete_image(Image(name, name))

    def promote(self, image: Image, identity: Identity) -> None:
        """Marked promoted and latest; the family serves it, being its newest. Older images are prune's to
        deprecate, by the one policy (beyond --keep, with its grace period): none is deprecated here."""
        marked = {**image.details.get("labels", {}), label(TAG_PROMOTED): str(int(time.time()))}
        self._set_labels(image.id, marked, image.details.get("label_fingerprint", ""))
        self.point_channel(image, identity.profile, "latest")

    def point_channel(self, image: Image, profile: str, channel: str) -> None:
        """The channel's label on the image, the name users filter on (Terraform's export does): one image
        holds it at a time, so its former holders' label becomes was-CHANNEL, keeping the history. The new
        holder is labelled first: a failure between the two calls leaves two holders (the newest mark wins,
        here and in Terraform's most_recent lookup), never none."""
        key = channel_label(channel)
        current = self.call("images.get", self.images.get, project=self.project, image=image.id)
        kept = {k: v for k, v in current.labels.items() if k != channel_label(CHANNEL_WAS + channel)}
        self._set_labels(image.id, {**kept, key: str(time.time_ns())}, current.label_fingerprint)
        for former in self.list_images(profile):
            if key in former.details["labels"] and former.id != image.id:
                kept = {k: v for k, v in former.details["labels"].items() if k != key}
                was = {channel_label(CHANNEL_WAS + channel): former.details["labels"][key]}
                self._set_labels(former.id, {**kept, **was}, former.details["label_fingerprint"])

    def deprecate(self, image: Image, replacement: Image, now: float) -> None:
        """GCE's DEPRECATED state naming the replacement (launches warn and point to it), then our label."""
        stamp = datetime.fromtimestamp(now, tz=timezone.utc).isoformat()
        status = {"state": "DEPRECATED", "replacement": replacement.details.get("self_link", replacement.id),
                  "deprecated": stamp}  # fmt: skip
        operation = self.call("images.deprecate", self.images.deprecate, project=self.project, image=image.id,
                              deprecation_status_resource=status)  # fmt: skip
        self.finish("images.deprecate", operation)
        self._label(image, {label(TAG_DEPRECATED): str(int(now))})

    def _label(self, image: Image, added: dict[str, str]) -> None:
        """Add labels to an image (read afresh: setLabels wants the current fingerprint)."""
        current = self.call("images.get", self.images.get, project=self.project, image=image.id)
        self._set_labels(image.id, {**dict(current.labels), **added}, current.label_fingerprint)

    def _set_labels(self, name: str, labels_: dict[str, str], fingerprint: str) -> None:
        request = {"labels": labels_, "label_fingerprint": fingerprint}
        operation = self.call("images.setLabels", self.images.set_labels, project=self.project, resource=name,
                              global_set_labels_request_resource=request)  # fmt: skip
        self.finish("images.setLabels", operation)

    shares = "gce"

    def share(self, image: Image, principals: list[Any]) -> None:
        """roles/compute.imageUser for IAM members on the image (and on its machine image, if it has one),
        each in one setIamPolicy (all or nothing) on the policy read just before it (its etag refuses a
        concurrent change rather than lose it)."""
        self._grant("images", self.images, image.id, principals)
        if label(TAG_MACHINE_IMAGE) in image.details.get("labels", {}):
            self._grant("machineImages", self.machine_images, self._machine_of(image), principals)

    @staticmethod
    def _machine_of(image: Image) -> str:
        """Its machine image's name: the one its label records (as it was named when made), else today's."""
        return image.details.get("labels", {}).get(label(TAG_MACHINE_IMAGE)) or machine_image_name(image.id)

    def shared_with(self, image: Image) -> list[str]:
        policy = self.call("images.getIamPolicy", self.images.get_iam_policy, project=self.project, resource=image.id)
        return [member for binding in policy.bindings if binding.role == IMAGE_USER for member in binding.members]

    def _grant(self, kind: str, client: Any, resource: str, principals: list[Any]) -> None:
        policy = self.call(f"{kind}.getIamPolicy", client.get_iam_policy, project=self.project, resource=resource)
        bindings = [{"role": b.role, "members": list(b.members)} for b in policy.bindings]
        mine = next((b for b in bindings if b["role"] == IMAGE_USER), None)
        if mine is None:
            mine = {"role": IMAGE_USER, "members": []}
            bindings.append(mine)
        mine["members"] += [p.value for p in principals if p.value not in mine["members"]]
        request = {"policy": {"bindings": bindings, "etag": policy.etag, "version": policy.version or 1}}
        self.call(f"{kind}.setIamPolicy", client.set_iam_policy, project=self.project, resource=resource,
                  global_set_policy_request_resource=request)  # fmt: skip

    def location(self) -> str:
        return f"project {self.project}, zone {self.zone}"

    def reap(self, now: float, dry_run: bool = False, warn: Callable[[str], None] = print,
             pending: Pending | None = None) -> list[str]:  # fmt: skip
        """bootstrap's own builder and test machines in the zone whose expiry has passed."""
        reaped = []
        request = self.compute.ListInstancesRequest(project=self.project, zone=self.zone,
                                                    filter=f'labels.{label(TAG_OWNER)} = "{OWNER}"')  # fmt: skip
        for data in self.call("instances.list", self.instances.list, request=request):
            found = dict(data.labels)
            tags = {key: found.get(label(key), "") for key in (TAG_OWNER, TAG_ROLE, TAG_EXPIRES)}
            name = f"{self.zone}/{data.name}"
            due, warning = reap_verdict(tags, now, name, pending)
            if warning:
                warn(warning)
            if due:
                if not dry_run:
                    self.delete_instance(Instance(data.name, tags[TAG_ROLE], self.zone))
                reaped.append(name)
        return reaped


def _transient(exc: Exception) -> bool:
    from google.api_core import exceptions

    if isinstance(exc, (exceptions.TooManyRequests, exceptions.ServiceUnavailable, exceptions.InternalServerError,
                        exceptions.BadGateway, exceptions.GatewayTimeout)):  # fmt: skip
        return True
    import requests

    return isinstance(exc, (requests.ConnectionError, requests.Timeout))
