"""One contract for every backend: a bake, its guest's faults, channels and prune behave the same against
the in-memory fake (tests/fake_backend.py), EC2 (moto) and GCE (the Compute API stand-in).

Each cloud is a ``World``: how to bake in it, and how to look at it as its users would (which images
exist, what a launch from a channel gets, whether the cloud itself deprecated an image). The fake runs
the contract in milliseconds, so the edge cases of channels and prune live on it (tests/test_channels.py,
tests/test_lifecycle.py); this file proves the real APIs agree with it. What only one API does (throttling,
its errors, its request shapes) stays in tests/test_bake_ec2.py and tests/test_bake_gce.py.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from bootstrap.bake import channels
from bootstrap.bake.backend import (
    OWNER,
    ROLE_LAYER,
    TAG_LAYER_INDEX,
    TAG_LAYER_KEY,
    TAG_OWNER,
    TAG_PROFILE,
    TAG_ROLE,
    Backend,
    BakeStepError,
    Image,
    tag_value,
)
from bootstrap.bake.events import Quiet
from bootstrap.bake.lifecycle import BakeOptions, BakeResult, bake, deprecated_at, prune
from bootstrap.errors import BackendError, UsageError
from bootstrap.layers import image_layers
from bootstrap.plan import Plan

from .fake_backend import FakeBackend

PROFILE = "ml-box"  # conftest.ML_BOX


class World:
    """A backend's cloud as the contract sees it. ``regions``: where copies go; ``names_replacement``:
    whether the cloud's own deprecation records the image that replaces the old one."""

    regions: tuple[str, ...] = ()
    names_replacement = True
    timeout = 1.0  # for a guest that never reports

    def __init__(self, plan: Plan):
        self.plan = plan

    def backend(self) -> Backend:
        """A backend as a command makes one, fresh (the fake keeps its state: it is the cloud)."""
        raise NotImplementedError

    def bake(self, **options: Any) -> BakeResult:
        settings = dict(regions=self.regions, build_timeout=self.timeout, test_timeout=self.timeout)
        self.events = Quiet()  # what the last bake said
        return bake(self.plan, self.backend(), BakeOptions(**{**settings, **options}), self.events)  # type: ignore[arg-type]

    def guest(self, role: str, behaviour: str) -> None: ...
    def images(self) -> set[str]: ...
    def machines(self) -> list[str]: ...
    def launched_from(self, channel: str, region: str) -> str | None: ...
    def untest(self, image: str) -> None:
        """Take the tested mark off, as a bake killed between its image and its test leaves it."""

    def deprecation(self, image: Image) -> str | None:
        """None when the cloud does not hold ``image`` deprecated, else the replacement it names ('' none)."""


class FakeWorld(World):
    regions = ("r2",)
    timeout = 0.05

    def __init__(self, plan: Plan):
        super().__init__(plan)
        self.fake = FakeBackend(plan)

    def backend(self) -> Backend:
        return self.fake

    def guest(self, role: str, behaviour: str) -> None:
        self.fake.behaviour[role] = behaviour

    def images(self) -> set[str]:
        return set(self.fake.images)

    def machines(self) -> list[str]:
        return list(self.fake.instances)

    def launched_from(self, channel: str, region: str) -> str | None:
        return self.fake.launched_from(PROFILE, channel, region)

    def untest(self, image: str) -> None:
        del self.fake.images[image].details["tags"]["bootstrap:promoted"]

    def deprecation(self, image: Image) -> str | None:
        found = self.fake.images[image.id].details.get("deprecated")
        return found["replacement"] if found else None


class Ec2World(World):
    names_replacement = False  # EC2's deprecation is a time, no successor
    timeout = 2.0

    def __init__(self, plan: Plan, aws: Any):
        from .aws_fakes import FakeGuest, Simulated
        from .test_bake_ec2 import OTHER_REGION

        super().__init__(plan)
        self.aws, self.regions = aws, (OTHER_REGION,)
        self.session = aws.session()
        self.guest_sim = FakeGuest(aws, plan)
        self.guest_sim.attach(self.session)
        self.deprecations = Simulated(self.session, "EnableImageDeprecation")  # moto 5.2 has none

    def backend(self) -> Backend:
        from .test_bake_ec2 import make_backend

        return make_backend(self.aws, self.session)

    def bake(self, **options: Any) -> BakeResult:
        if options.get("force"):
            time.sleep(1.1)  # moto's image creation dates have one-second resolution: prune sorts by them
        return super().bake(**options)

    def guest(self, role: str, behaviour: str) -> None:
        self.guest_sim.behaviour[role] = behaviour

    def images(self) -> set[str]:
        from .test_bake_ec2 import own_images

        return set(own_images(self.aws))

    def machines(self) -> list[str]:
        from .test_bake_ec2 import live_instances

        return live_instances(self.aws)

    def launched_from(self, channel: str, region: str) -> str | None:
        ssm = self.aws.client("ssm", region)
        try:
            return str(ssm.get_parameter(Name=f"/bootstrap/{PROFILE}/{channel}")["Parameter"]["Value"])
        except ssm.exceptions.ParameterNotFound:
            return None

    def untest(self, image: str) -> None:
        self.aws.client("ec2").delete_tags(Resources=[image], Tags=[{"Key": "bootstrap:promoted"}])

    def deprecation(self, image: Image) -> str | None:
        asked = [r for r in self.deprecations.requests if r["ImageId"] == image.id and r["DeprecateAt"]]
        return "" if asked else None


class GceWorld(World):
    def __init__(self, plan: Plan, gce_server: Any):
        super().__init__(plan)
        self.running, self.compute = gce_server
        self.compute.reset()

    def backend(self) -> Backend:
        from .test_bake_gce import backend_for

        return backend_for(self.running)

    def guest(self, role: str, behaviour: str) -> None:
        self.compute.behaviour[role] = behaviour

    def images(self) -> set[str]:
        from .test_bake_gce import our_images

        return set(our_images(self.compute))

    def machines(self) -> list[str]:
        return [*self.compute.instances, *self.compute.disks]  # a machine's disk goes with it

    def launched_from(self, channel: str, region: str) -> str | None:
        """The image labelled with the channel (what Terraform's export filters on): one at most."""
        holding = [i["name"] for key, i in self.compute.images.items()
                   if key.startswith("team/") and f"bootstrap-channel-{channel}" in i["labels"]]  # fmt: skip
        assert len(holding) <= 1, f"{channel} labels {holding}: one holder per label"
        return holding[0] if holding else None

    def untest(self, image: str) -> None:
        del self.compute.images[f"team/{image}"]["labels"]["bootstrap-promoted"]

    def deprecation(self, image: Image) -> str | None:
        status = self.compute.images[f"team/{image.id}"].get("deprecated") or {}
        return status["replacement"].rsplit("/", 1)[-1] if status.get("state") == "DEPRECATED" else None


@pytest.fixture(params=["fake", pytest.param("ec2", marks=pytest.mark.cloud),
                        pytest.param("gce", marks=pytest.mark.cloud)])  # fmt: skip
def world(request: pytest.FixtureRequest, ml_box: Plan) -> World:
    if request.param == "ec2":
        return Ec2World(ml_box, request.getfixturevalue("aws"))
    if request.param == "gce":
        pytest.importorskip("google.cloud.compute_v1")
        return GceWorld(ml_box, request.getfixturevalue("gce_server"))
    return FakeWorld(ml_box)


def every(result: BakeResult) -> list[Image]:
    """The image and its copies, in the order of the regions."""
    assert result.image is not None
    return [result.image, *result.copies]


def ids(*results: BakeResult) -> set[str]:
    return {image.id for result in results for image in every(result)}


def test_a_bake_publishes_in_every_region_leaves_no_machine_and_is_not_repeated(world: World) -> None:
    first = world.bake()
    assert first.status == "built" and world.machines() == []
    assert len(every(first)) == 1 + len(world.regions) and world.images() == ids(first)
    for image in every(first):
        assert world.launched_from("latest", image.region) == image.id
    again = world.bake()
    assert again.status == "unchanged" and ids(again) == ids(first)  # its copies found again, for images.json
    assert "already holds image hash" in world.events.history[-1]["message"]


GUEST_FAULTS = {
    "builder step fails": ("builder", "fail:packages", "build", "step packages failed"),
    "builder never reports": ("builder", "silent", "build", "it ended timeout"),
    "test step fails": ("test", "fail:cmd-hello", "test", "ended failed at step cmd-hello"),
}


@pytest.mark.parametrize("fault", list(GUEST_FAULTS))
def test_a_guest_fault_names_its_step_and_leaves_nothing(world: World, fault: str) -> None:
    role, behaviour, step, message = GUEST_FAULTS[fault]
    world.guest(role, behaviour)
    with pytest.raises(BakeStepError) as caught:
        world.bake()
    assert caught.value.step == step and message in str(caught.value)
    assert world.machines() == [] and world.images() == set()


def test_promote_then_rollback_moves_the_channel_in_every_region(world: World) -> None:
    first = world.bake()
    moved = channels.promote(world.backend(), PROFILE, "stable")
    assert {i.id for i in moved} == ids(first)
    second = world.bake(force=True)
    pairs = list(zip(every(first), every(second), strict=True))  # (old, new) per region
    for old, new in pairs:
        assert world.launched_from("latest", new.region) == new.id
        assert world.launched_from("stable", old.region) == old.id  # a bake moves latest only
    channels.promote(world.backend(), PROFILE, "stable")
    assert all(world.launched_from("stable", new.region) == new.id for _, new in pairs)
    back = channels.rollback(world.backend(), PROFILE, "stable")
    assert {(a.id, b.id) for a, b in back} == {(new.id, old.id) for old, new in pairs}
    for old, new in pairs:
        assert world.launched_from("stable", old.region) == old.id
        assert world.launched_from("latest", new.region) == new.id
    held = channels.holders(world.backend().list_images(PROFILE))
    assert held == {**{old.id: ["stable"] for old, _ in pairs}, **{new.id: ["latest"] for _, new in pairs}}


def test_only_tested_images_move_and_bad_channels_are_refused(world: World) -> None:
    backend = world.backend()
    with pytest.raises(BackendError, match="points at no image yet"):
        channels.promote(backend, PROFILE, "stable")
    first = world.bake()
    with pytest.raises(BackendError, match="nothing to roll back to"):
        channels.rollback(backend, PROFILE, "latest")
    with pytest.raises(UsageError, match="channel 'Stable!'"):
        channels.promote(backend, PROFILE, "Stable!")
    assert first.image is not None
    world.untest(first.image.id)
    with pytest.raises(BackendError, match="never passed its test"):
        channels.promote(backend, PROFILE, "stable", image_id=first.image.id)


def test_prune_keeps_what_a_channel_points_at(world: World) -> None:
    first = world.bake()
    channels.promote(world.backend(), PROFILE, "stable")
    second = world.bake(force=True, keep=1, grace_days=0)
    assert second.pruned == [] and world.images() == ids(first, second)  # stable holds the first
    channels.promote(world.backend(), PROFILE, "stable")
    assert set(prune(world.backend(), PROFILE, 1, set(), Quiet(), grace_days=0)) == ids(first)
    assert world.images() == ids(second)


def test_prune_deprecates_first_and_deletes_after_the_grace_period(world: World) -> None:
    first = world.bake()
    second = world.bake(force=True, keep=1, grace_days=7)
    assert second.pruned == [] and world.images() == ids(first, second)  # deprecated, not deleted
    for old, new in zip(every(first), every(second), strict=True):
        assert world.deprecation(old) == (new.id if world.names_replacement else "")
        assert world.deprecation(new) is None
    backend = world.backend()
    [old] = [i for i in backend.list_images(PROFILE) if first.image and i.id == first.image.id]
    since = deprecated_at(old)
    assert since is not None
    assert prune(backend, PROFILE, 1, set(), Quiet(), grace_days=7, now=since + 86400) == []
    assert set(prune(backend, PROFILE, 1, set(), Quiet(), grace_days=7, now=since + 8 * 86400)) == ids(first)
    assert world.images() == ids(second)


def test_every_cloud_keeps_a_bake_s_layers_with_the_same_tags_and_finds_them_by_key(world: World) -> None:
    """Layers (#25): one image per layer, tagged (GCE: labelled, the key's first 63 characters) alike."""
    if isinstance(world, FakeWorld):
        pytest.skip("the fake keeps no layers: tests/test_layer_cache.py's LayeredFake does")
    world.guest("builder", "layered")  # its runner waits at each layer point for the host's word
    result = world.bake()
    backend = world.backend()
    chain = image_layers(world.plan, result.source.id, backend.layer_inputs())
    layers = {layer.id: layer for layer in backend.list_layers()}
    assert sorted(layers) == sorted(result.layers["made"]) and len(layers) == len(chain.layers) == 2
    for index, layer_id in enumerate(result.layers["made"], 1):
        layer, key = layers[layer_id], chain.layers[index - 1].key
        assert tag_value(layer, TAG_OWNER) == OWNER and tag_value(layer, TAG_ROLE) == ROLE_LAYER
        assert tag_value(layer, TAG_PROFILE) == PROFILE and tag_value(layer, TAG_LAYER_INDEX) == str(index)
        assert tag_value(layer, TAG_LAYER_KEY) in (key, key[:63])
        assert backend.find_layer(key, 0).id == layer_id  # type: ignore[union-attr]
    assert world.machines() == []
