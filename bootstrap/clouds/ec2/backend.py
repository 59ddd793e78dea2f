"""The EC2 backend: AMIs baked with boto3 (imported here only).

Credentials come from boto3's standard chain; ``AWS_ENDPOINT_URL`` (honoured by boto3 itself) or
``endpoint_url`` points it at another endpoint (tests: a moto server on 127.0.0.1). Throttling,
5xx answers and dropped connections are retried here with jittered backoff (botocore's own
retries are off, so that one policy, with delays we choose, applies); every wait is a bounded poll.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ... import interrupts
from ...bake.backend import (
    CHANNEL_PREFIX,
    LAYER_WORD,
    MACHINE_ROLES,
    OWNER,
    ROLE_LAYER,
    TAG_COPIES,
    TAG_DEPRECATED,
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
    Instance,  # fmt: skip
    Pending,
    Source,
    layer_born,
    layer_name,
    reap_verdict,
    tag_value,
)
from ...bake.waiting import poll, retry
from ...errors import BackendError, UsageError
from .vocabulary import DEFAULT_INSTANCE_TYPE, machine_name, parameter

if TYPE_CHECKING:
    from ..sharing import Principal

LAUNCH_PERMISSION = {"account": "UserId", "organization": "OrganizationArn", "ou": "OrganizationalUnitArn"}

TRANSIENT_CODES = {
    "RequestLimitExceeded", "Throttling", "ThrottlingException", "TooManyRequestsException", "InternalError",
    "InternalFailure", "ServiceUnavailable", "Unavailable", "RequestTimeout", "SlowDown",
}  # fmt: skip
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")  # a region name read back from a tag: nothing else is called
LIVE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]


class Ec2Backend(Backend):
    name = "ec2"
    target = "ec2"
    capabilities = frozenset({Capability.COPY, Capability.CHANNELS, Capability.DEPRECATE, Capability.SHARE,
                              Capability.LAYERS})  # fmt: skip

    def __init__(self, *, region: str, source: str, instance_type: str = DEFAULT_INSTANCE_TYPE,
                 subnet: str | None = None, security_groups: tuple[str, ...] = (), instance_profile: str | None = None,
                 regions: tuple[str, ...] = (), endpoint_url: str | None = None, session: Any = None,
                 image_timeout: float = 3600, poll_first: float = 0.05, retry_first: float = 0.5,
                 progress: Callable[[str], None] | None = None, follow_copies: bool = False):  # fmt: skip
        import boto3
        from botocore.config import Config

        self.region = region
        self.source = source
        self.instance_type = instance_type
        self.subnet = subnet
        self.security_groups = security_groups
        self.instance_profile = instance_profile
        self.regions = regions
        self.follow_copies = follow_copies  # `images`: every region the images were copied to, unless --region
        self.endpoint_url = endpoint_url
        self.session = session or boto3.Session()
        # botocore's own retries off (ours say what they retry); an endpoint that never answers the
        # connection is an error after 10 s, not botocore's 60.
        self.config = Config(retries={"mode": "standard", "total_max_attempts": 1}, user_agent_extra="bootstrap",
                             connect_timeout=10, read_timeout=60)  # fmt: skip
        self.progress = progress
        self.image_timeout = image_timeout
        self.poll_first = poll_first
        self.retry_first = retry_first
        self._clients: dict[tuple[str, str], Any] = {}

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.region)
        if key not in self._clients:
            self._clients[key] = self.session.client(service, region_name=key[1], endpoint_url=self.endpoint_url,
                                                     config=self.config)  # fmt: skip
        return self._clients[key]

    def call(self, service: str, operation: str, region: str | None = None, **kwargs: Any) -> Any:
        """One API call; AWS errors become BackendErrors that name the operation."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        method = getattr(self.client(service, region), operation)
        try:
            return retry(lambda: method(**kwargs), transient=_transient, first=self.retry_first,
                         what=f"{service} {operation} in {region or self.region}", say=self.progress)  # fmt: skip
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise BackendError(f"{service} {operation} in {region or self.region}: {error.get('Code')}: "
                               f"{error.get('Message')}") from exc  # fmt: skip
        except NoCredentialsError:  # the user's to set up, as GCE's missing credentials are
            raise UsageError("ec2: no AWS credentials: configure them (aws configure, AWS_PROFILE, or the "
                             "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY variables, or an instance role)") from None
        except BotoCoreError as exc:
            raise BackendError(f"{service} {operation} in {region or self.region}: {exc}") from exc

    def _poll(self, check: Callable[[], Any], timeout: float, what: str) -> Any:
        return poll(check, timeout=timeout, what=what, first=self.poll_first)

    # -- source and lookup -------------------------------------------------------------------
    def resolve_source(self, create: bool = True) -> Source:  # a lookup: creates nothing
        ami, via = self.source, ""
        if self.source.startswith(("ssm:", "resolve:ssm:")):
            name = self.source.split("ssm:", 1)[1]
            ami = self.call("ssm", "get_parameter", Name=name)["Parameter"]["Value"]
            via = f" (from SSM parameter {name})"
        images = self.call("ec2", "describe_images", ImageIds=[ami])["Images"]
        if not images:
            raise BackendError(f"source image {ami}{via} does not exist in {self.region}")
        return Source(ami, f"{ami} {images[0].get('Name', '')}{via} in {self.region}")

    def _images(self, region: str, filters: list[dict]) -> list[Image]:
        found = self.call("ec2", "describe_images", region, Owners=["self"], Filters=filters)["Images"]
        return [self._image(data, region) for data in found if data.get("State") in ("available", "pending")]

    def _image(self, data: dict, region: str) -> Image:
        created = _epoch(data.get("CreationDate"))
        snapshots = [m["Ebs"]["SnapshotId"] for m in data.get("BlockDeviceMappings", []) if "Ebs" in m
                     and m["Ebs"].get("SnapshotId")]  # fmt: skip
        tags = {t["Key"]: t["Value"] for t in data.get("Tags", [])}
        return Image(data["ImageId"], data.get("Name", ""), region, created,
                     {"snapshots": snapshots, "tags": tags, "state": data.get("State", "")})  # fmt: skip

    def find_image(self, identity: Identity) -> Image | None:
        """The newest promoted image of this identity: one that was made but never tested and published
        (a killed bake) does not count as built."""
        filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in identity.tags().items()]
        filters.append({"Name": "tag-key", "Values": [TAG_PROMOTED]})
        images = sorted(self._images(self.region, filters), key=lambda i: (i.created, i.name), reverse=True)
        return images[0] if images else None

    def list_images(self, profile: str) -> list[Image]:
        """The profile's images in our regions, and (``follow_copies``) in every region they were copied to."""
        filters = [{"Name": f"tag:{TAG_PROFILE}", "Values": [profile]},
                   {"Name": f"tag:{TAG_ROLE}", "Values": ["image"]},
                   {"Name": f"tag:{TAG_OWNER}", "Values": [OWNER]}]  # fmt: skip
        todo, done, found = [self.region, *self.regions], set(), []
        while todo:
            region = todo.pop(0)
            if region in done:
                continue
            done.add(region)
            images = self._images(region, filters)
            found += images
            if self.follow_copies:
                todo += [r for image in images for r in tag_value(image, TAG_COPIES).split() if REGION.match(r)]
        return found

    # -- machines ----------------------------------------------------------------------------
    def launch(self, role: str, source: str, user_data: bytes, tags: dict[str, str]) -> Instance:
        name = machine_name(role, tags.get(TAG_PROFILE, ''))
        request: dict[str, Any] = {
            "ImageId": source, "InstanceType": self.instance_type, "MinCount": 1, "MaxCount": 1,
            "UserData": user_data,  # boto3 base64-encodes it
            "InstanceInitiatedShutdownBehavior": "stop",  # a sealed builder powers off; we image it stopped
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled",
                                # a builder's runner reads its own tags: the host's word at a layer point
                                **({"InstanceMetadataTags": "enabled"} if role == "builder" else {})},
            "TagSpecifications": [{"ResourceType": "instance", "Tags": _tags({**tags, "Name": name})}],
        }  # fmt: skip
        if self.subnet:
            request["SubnetId"] = self.subnet
        if self.security_groups:
            request["SecurityGroupIds"] = list(self.security_groups)
        if self.instance_profile:
            request["IamInstanceProfile"] = {"Name": self.instance_profile}
        reservation = self.call("ec2", "run_instances", **request)
        return Instance(reservation["Instances"][0]["InstanceId"], role, self.region)

    def state(self, instance: Instance) -> str:
        reservations = self.call("ec2", "describe_instances", InstanceIds=[instance.id])["Reservations"]
        name = reservations[0]["Instances"][0]["State"]["Name"] if reservations else "terminated"
        return {"stopped": "stopped", "shutting-down": "gone", "terminated": "gone"}.get(name, "running")

    def console(self, instance: Instance) -> str:
        # botocore decodes the base64 Output itself (its decode_console_output handler).
        return self.call("ec2", "get_console_output", InstanceId=instance.id, Latest=True).get("Output") or ""

    def create_image(self, instance: Instance, name: str, tags: dict[str, str]) -> Image:
        answer = self.call("ec2", "create_image", InstanceId=instance.id, Name=name,
                           Description=f"bootstrap golden image of profile {tags.get(TAG_PROFILE)}",
                           TagSpecifications=[{"ResourceType": "image", "Tags": _tags(tags)}])  # fmt: skip
        image = Image(answer["ImageId"], name, self.region, time.time())
        try:
            return self._finish_image(image, tags)
        except BaseException:
            with interrupts.shielded():
                self.delete_image(image)  # not returned to the lifecycle: nobody else would delete it
            raise

    def _finish_image(self, image: Image, tags: dict[str, str]) -> Image:
        def available() -> dict | None:
            found = self.call("ec2", "describe_images", image.region, ImageIds=[image.id])["Images"]
            if found and found[0]["State"] == "failed":
                raise BackendError(f"image {image.id} failed: {found[0].get('StateReason', {}).get('Message')}")
            return found[0] if found and found[0]["State"] == "available" else None

        data = self._poll(available, self.image_timeout, f"image {image.id} in {image.region}")
        done = self._image(data, image.region)
        resources = [done.id, *done.details["snapshots"]]  # snapshots cannot be tagged at creation (moto)
        self.call("ec2", "create_tags", image.region, Resources=resources, Tags=_tags(tags))
        return done

    # -- layers (bootstrap/layers.py): an AMI per layer ----------------------------------------------
    def make_layer(self, instance: Instance, tags: dict[str, str]) -> Image:
        """An AMI of the running builder (NoReboot: its runner is waiting, its disks synced). The builder is
        told to go on (its tag bootstrap-layer=N, which it reads from IMDS) once every snapshot exists: an EBS
        snapshot holds the volume as it was when it was started. The key is tagged last, when the AMI is
        available: one never finished is never found. A failure or a signal deletes the AMI and snapshots."""
        index = tags.get(TAG_LAYER_INDEX, "")
        unkeyed = {k: v for k, v in tags.items() if k != TAG_LAYER_KEY}
        name = layer_name(tags)
        answer = self.call("ec2", "create_image", InstanceId=instance.id, Name=name, NoReboot=True,
                           Description=f"bootstrap layer {index} of profile {tags.get(TAG_PROFILE)}",
                           TagSpecifications=[{"ResourceType": "image", "Tags": _tags(unkeyed)}])  # fmt: skip
        image = Image(answer["ImageId"], name, self.region, time.time())
        try:
            self._poll(lambda: self._snapshots_started(image), self.image_timeout, f"snapshots of layer {image.id}")
            self.call("ec2", "create_tags", Resources=[instance.id], Tags=[{"Key": LAYER_WORD, "Value": index}])
            return self._finish_image(image, tags)
        except BaseException:
            with interrupts.shielded():
                self.delete_image(image)
            raise

    def _snapshots_started(self, image: Image) -> bool:
        found = self.call("ec2", "describe_images", image.region, ImageIds=[image.id])["Images"]
        if found and found[0]["State"] == "failed":
            raise BackendError(f"layer {image.id} failed: {found[0].get('StateReason', {}).get('Message')}")
        disks = [m["Ebs"] for m in found[0].get("BlockDeviceMappings", []) if "Ebs" in m] if found else []
        image.details["snapshots"] = [d["SnapshotId"] for d in disks if d.get("SnapshotId")]  # deleted on a failure
        return bool(disks) and all(d.get("SnapshotId") for d in disks)

    def _layers(self, *filters: dict[str, Any]) -> list[Image]:
        """Our layers in the bake's region (layers are never copied), in any state (prune deletes them all)."""
        own = [{"Name": f"tag:{TAG_OWNER}", "Values": [OWNER]}, {"Name": f"tag:{TAG_ROLE}", "Values": [ROLE_LAYER]}]
        found = self.call("ec2", "describe_images", Owners=["self"], Filters=[*own, *filters])["Images"]
        return [self._image(data, self.region) for data in found]

    def find_layer(self, key: str, born_after: float) -> Image | None:
        """The newest available AMI with this key (tagged only once available) born after ``born_after``.
        An AMI is whole by itself: deleting the layer below it breaks nothing."""
        found = [i for i in self._layers({"Name": f"tag:{TAG_LAYER_KEY}", "Values": [key]})
                 if i.details["state"] == "available" and layer_born(i) > born_after]  # fmt: skip
        return max(found, key=lambda i: (i.created, i.name), default=None)

    def list_layers(self) -> list[Image]:
        return self._layers()

    def delete_instance(self, instance: Instance) -> None:
        self.call("ec2", "terminate_instances", instance.region or None, InstanceIds=[instance.id])

    def delete_image(self, image: Image) -> None:
        found = self.call("ec2", "describe_images", image.region, ImageIds=[image.id])["Images"]
        snapshots = self._image(found[0], image.region).details["snapshots"] if found else []
        snapshots += [s for s in image.details.get("snapshots", []) if s not in snapshots]
        if found:
            self.call("ec2", "deregister_image", image.region, ImageId=image.id)
        for snapshot in snapshots:
            self.call("ec2", "delete_snapshot", image.region, SnapshotId=snapshot)

    def copy_image(self, image: Image, region: str, tags: dict[str, str]) -> Image:
        answer = self.call("ec2", "copy_image", region, SourceImageId=image.id, SourceRegion=image.region,
                           Name=image.name, Description=f"copy of {image.id} from {image.region}")  # fmt: skip
        copy = Image(answer["ImageId"], image.name, region, time.time())
        try:
            finished = self._finish_image(copy, tags)  # copies carry no tags of their own (moto ignores CopyImageTags)
        except BaseException:
            with interrupts.shielded():
                self.delete_image(copy)
            raise
        # The original names its copies' regions: `images` finds every region from any one of them.
        known = image.details.setdefault("tags", {})
        regions = sorted({*known.get(TAG_COPIES, "").split(), region})
        known[TAG_COPIES] = " ".join(regions)
        for each in (image, finished):
            self.call("ec2", "create_tags", each.region, Resources=[each.id],
                      Tags=[{"Key": TAG_COPIES, "Value": " ".join(regions)}])  # fmt: skip
        return finished

    def promote(self, image: Image, identity: Identity) -> None:
        self.call("ec2", "create_tags", image.region, Resources=[image.id],
                  Tags=[{"Key": TAG_PROMOTED, "Value": str(int(time.time()))}])  # fmt: skip
        self.point_channel(image, identity.profile, "latest")

    def point_channel(self, image: Image, profile: str, channel: str) -> None:
        """The image's channel tag, then the SSM parameter /bootstrap/PROFILE/CHANNEL that launch templates
        and Terraform resolve (resolve:ssm:), in the image's region."""
        self.call("ec2", "create_tags", image.region, Resources=[image.id],
                  Tags=[{"Key": f"{CHANNEL_PREFIX}{channel}", "Value": str(time.time_ns())}])  # fmt: skip
        self.call("ssm", "put_parameter", image.region, Name=parameter(profile, channel),
                  Value=image.id, Type="String", Overwrite=True,
                  Description=f"bootstrap image of {profile}, channel {channel}")  # fmt: skip

    def channel_pointers(self, profile: str, regions: set[str]) -> dict[str, list[str]]:
        """The AMIs the profile's SSM parameters name, in each region."""
        named: dict[str, list[str]] = {}
        for region in sorted(regions):
            token: dict[str, str] = {}
            while True:
                page = self.call("ssm", "get_parameters_by_path", region, Path=parameter(profile, "").rstrip("/"),
                                 **token)  # fmt: skip
                for found in page.get("Parameters", []):
                    named.setdefault(found["Value"], []).append(found["Name"].rsplit("/", 1)[-1])
                if not page.get("NextToken"):
                    break
                token = {"NextToken": page["NextToken"]}
        return named

    def deprecate(self, image: Image, replacement: Image, now: float) -> None:
        """EC2's deprecation time (a minute on: it refuses the past), then our tag, which prune counts from."""
        when = datetime.fromtimestamp(now + 60, tz=timezone.utc)
        self.call("ec2", "enable_image_deprecation", image.region, ImageId=image.id, DeprecateAt=when)
        self.call("ec2", "create_tags", image.region, Resources=[image.id],
                  Tags=[{"Key": TAG_DEPRECATED, "Value": str(int(now))}])  # fmt: skip

    shares = "ec2"

    def share(self, image: Image, principals: list[Principal]) -> None:
        """Launch permission on the AMI for accounts, organizations and OUs; create-volume permission on
        its snapshots for the accounts (snapshots take account ids only). A failure removes what was added."""
        permissions = [{LAUNCH_PERMISSION[p.kind]: p.value} for p in principals]
        accounts = [p.value for p in principals if p.kind == "account"]
        given: list[str] = []
        try:
            self._launch_permission(image, "Add", permissions)
            given.append(image.id)
            for snapshot in image.details.get("snapshots", []) if accounts else []:
                self._volume_permission(image.region, snapshot, "add", accounts)
                given.append(snapshot)
        except BaseException:
            with interrupts.shielded():  # never half shared
                for resource in reversed(given):
                    if resource == image.id:
                        self._launch_permission(image, "Remove", permissions)
                    else:
                        self._volume_permission(image.region, resource, "remove", accounts)
            raise

    def shared_with(self, image: Image) -> list[str]:
        answer = self.call("ec2", "describe_image_attribute", image.region, ImageId=image.id,
                           Attribute="launchPermission")  # fmt: skip
        return [value for permission in answer.get("LaunchPermissions", []) for value in permission.values()]

    def _launch_permission(self, image: Image, change: str, permissions: list[dict[str, str]]) -> None:
        self.call("ec2", "modify_image_attribute", image.region, ImageId=image.id,
                  LaunchPermission={change: permissions})  # fmt: skip

    def _volume_permission(self, region: str, snapshot: str, operation: str, accounts: list[str]) -> None:
        self.call("ec2", "modify_snapshot_attribute", region, SnapshotId=snapshot,
                  Attribute="createVolumePermission", OperationType=operation, UserIds=accounts)  # fmt: skip

    def location(self) -> str:
        return ", ".join((self.region, *self.regions))

    def reap(self, now: float, dry_run: bool = False, warn: Callable[[str], None] = print,
             pending: Pending | None = None) -> list[str]:  # fmt: skip
        """bootstrap's own builder and test machines whose expiry has passed, in every region we use."""
        reaped = []
        for region in (self.region, *self.regions):
            filters = [{"Name": f"tag:{TAG_OWNER}", "Values": [OWNER]},
                       {"Name": f"tag:{TAG_ROLE}", "Values": list(MACHINE_ROLES)},
                       {"Name": "instance-state-name", "Values": LIVE_STATES}]  # fmt: skip
            pages = self.call("ec2", "describe_instances", region, Filters=filters)["Reservations"]
            for data in (i for r in pages for i in r["Instances"]):
                name = f"{region}/{data['InstanceId']}"
                tags = {t["Key"]: t["Value"] for t in data.get("Tags", [])}
                due, warning = reap_verdict(tags, now, name, pending)
                if warning:
                    warn(warning)
                if not due or data["State"]["Name"] == "shutting-down":
                    continue
                if not dry_run:
                    self.call("ec2", "terminate_instances", region, InstanceIds=[data["InstanceId"]])
                reaped.append(name)
        return reaped


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _epoch(text: str | None) -> float:
    if not text:
        return 0.0
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _transient(exc: Exception) -> bool:
    from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return exc.response.get("Error", {}).get("Code") in TRANSIENT_CODES or status >= 500
    return isinstance(exc, (ConnectionClosedError, EndpointConnectionError, ReadTimeoutError))
