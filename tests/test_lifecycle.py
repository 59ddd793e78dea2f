"""The bake lifecycle against an in-memory backend: every fault at every step, in milliseconds.

Whatever fails, the error names the step, no builder or test machine is left, and no image that
was not promoted (nor its copies) survives; a failing clean-up is reported, never silent."""

from __future__ import annotations

import signal

import pytest

from bootstrap.bake.backend import BakeStepError
from bootstrap.bake.events import Quiet
from bootstrap.bake.lifecycle import BakeOptions, bake
from bootstrap.errors import BackendError
from bootstrap.interrupts import Interrupted
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile

from .fake_backend import FakeBackend

PROFILE = "name: box\npackages: [htop]\ncommands:\n  first_boot: [{name: hello, run: echo hello}]\n"


@pytest.fixture
def fake(write_profile) -> FakeBackend:
    return FakeBackend(build_plan(load_profile(str(write_profile(PROFILE)))))


def run(fake: FakeBackend, **options: object):  # type: ignore[no-untyped-def]
    events = Quiet()
    return bake(fake.plan, fake, BakeOptions(**options), events), events  # type: ignore[arg-type]


def test_a_bake_builds_tests_promotes_and_cleans_up(fake: FakeBackend) -> None:
    result, events = run(fake, regions=("r2",))
    assert result.status == "built" and fake.instances == {} and fake.unpromoted() == []
    assert [c for c in fake.calls if c.startswith("launch")] == ["launch:builder", "launch:test"]
    assert [e["event"] for e in events.history].count("promoted") == 1
    assert run(fake)[0].status == "unchanged"


BOOM = BackendError("injected failure")
FAULTS = {
    # name: (faults, behaviour, options, step, message)
    "source lookup": ({"resolve_source": BOOM}, {}, {}, "source", "injected"),
    "image lookup": ({"find_image": BOOM}, {}, {}, "source", "injected"),
    "builder launch": ({"launch:builder": BOOM}, {}, {}, "launch", "injected"),
    "builder console": ({"console:builder": BOOM}, {}, {}, "build", "injected"),
    "builder state": ({"state:builder": BOOM}, {}, {}, "build", "injected"),
    "sealed but never powered off": (
        {},
        {"builder": "no-poweroff"},
        {"build_timeout": 0.05},
        "build",
        "it ended timeout",
    ),
    "builder vanishes": ({}, {"builder": "vanishes"}, {}, "build",
                         "it ended gone; last console lines:\n(none: the console is empty)"),
    # no timeout here: a dead guest ends the wait at once, its panic said (issue 23)
    "builder panics": ({}, {"builder": "panics"}, {}, "build", "it ended panicked; last console lines:\n"
                       "Loading initial ramdisk\nVFS: Cannot open root device\nKernel panic - not syncing"),
    "test panics": ({}, {"test": "panics"}, {}, "test", "ended panicked"),
    "image creation": ({"create_image": BOOM}, {}, {}, "image", "injected"),
    "test launch": ({"launch:test": BOOM}, {}, {}, "test", "injected"),
    "test never reports": ({}, {"test": "silent"}, {"test_timeout": 0.05}, "test", "ended timeout"),
    "copy": ({"copy_image": BOOM}, {}, {"regions": ("r2", "r3")}, "copy", "injected"),
    "promotion": ({"promote": BOOM}, {}, {"regions": ("r2",)}, "promote", "injected"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_fault_at_any_step_names_it_and_leaves_nothing(fake: FakeBackend, fault: str) -> None:
    faults, behaviour, options, step, message = FAULTS[fault]
    fake.faults.update(faults)
    fake.behaviour.update(behaviour)
    with pytest.raises(BakeStepError) as caught:
        run(fake, **options)
    assert caught.value.step == step and message in str(caught.value)
    assert fake.instances == {}
    assert fake.images == {}  # nothing was promoted: every image and copy is gone


def test_a_prune_failure_keeps_the_promoted_image(fake: FakeBackend) -> None:
    fake.faults["list_images"] = BOOM
    with pytest.raises(BakeStepError) as caught:
        run(fake)
    assert caught.value.step == "prune"
    assert fake.instances == {} and fake.unpromoted() == [] and len(fake.images) == 1


def test_a_failing_clean_up_is_reported_and_the_rest_still_cleaned(fake: FakeBackend) -> None:
    fake.faults["delete_instance:test"] = BOOM  # the test machine cannot be deleted
    fake.behaviour["test"] = "fail:cmd-hello"
    events = Quiet()
    with pytest.raises(BakeStepError):
        bake(fake.plan, fake, BakeOptions(), events)
    assert [i.role for i in fake.instances.values()] == ["test"]  # left for reap, by its expiry tag
    assert fake.images == {}  # the unpromoted image went anyway
    failed = [e for e in events.history if e["event"] == "cleanup-failed"]
    assert failed and "could not delete test" in failed[0]["message"]


def test_a_signal_mid_bake_cleans_up_like_an_error(fake: FakeBackend) -> None:
    fake.faults["console:test"] = Interrupted(signal.SIGTERM)
    with pytest.raises(Interrupted):
        run(fake)
    assert fake.instances == {} and fake.images == {}


def test_old_images_are_pruned_but_never_the_new_one(fake: FakeBackend) -> None:
    for _ in range(4):
        run(fake, force=True, keep=2, grace_days=0)
    assert len(fake.images) == 2 and fake.unpromoted() == []


def test_a_promotion_that_fails_in_one_region_keeps_the_images_already_promoted(fake: FakeBackend) -> None:
    """latest moved to the new image in r1, then r2's promotion failed (a broken network, a throttled
    SSM): the image r1's latest now names must not be deleted by the clean-up, or every launch from
    r1's latest fails. The copy whose promotion failed is not promoted: it goes."""
    fake.faults["promote:r2"] = BOOM
    with pytest.raises(BakeStepError) as caught:
        run(fake, regions=("r2",))
    assert caught.value.step == "promote"
    held = fake.launched_from("box", "latest", "r1")
    assert held is not None and held in fake.images, "r1's latest names a deleted image"
    assert [i.region for i in fake.images.values()] == ["r1"]
