"""Optional abilities are declared, not probed: each backend overrides exactly the optional methods
its capabilities name, and what it lacks is refused in the one wording before any call."""

from __future__ import annotations

import importlib
import importlib.util
import inspect

import pytest

from bootstrap.bake.backend import Backend, BakeStepError, Capability, Unsupported, can, require
from bootstrap.bake.events import Quiet
from bootstrap.bake.lifecycle import BakeOptions, bake
from bootstrap.clouds import all_clouds
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile

from .fake_backend import FakeBackend

METHODS = {Capability.COPY: ("copy_image",), Capability.CHANNELS: ("point_channel",),
           Capability.DEPRECATE: ("deprecate",), Capability.SHARE: ("share", "shared_with"),
           Capability.RECORD: ("record",)}  # fmt: skip


def backends() -> list[type[Backend]]:
    """Every cloud's backend, from the registry (clouds/NAME/backend.py, or the package itself), and the fake."""
    found: list[type[Backend]] = []
    for name in all_clouds():
        package = f"bootstrap.clouds.{name}"
        for module in [package] + ([f"{package}.backend"] if importlib.util.find_spec(f"{package}.backend") else []):
            found += [value for value in vars(importlib.import_module(module)).values()
                      if isinstance(value, type) and issubclass(value, Backend) and value.__module__ == module
                      and not inspect.isabstract(value)]  # fmt: skip
    return [*found, FakeBackend]


def test_every_cloud_has_a_backend_here() -> None:
    assert {b.name for b in backends()} == {*all_clouds(), "fake"}


@pytest.mark.parametrize("backend", backends(), ids=lambda b: b.name)
def test_a_backend_overrides_what_it_declares_and_nothing_else(backend: type[Backend]) -> None:
    for capability, methods in METHODS.items():
        for method in methods:
            overridden = getattr(backend, method) is not getattr(Backend, method)
            assert overridden == (capability in backend.capabilities), (backend.name, method)
    assert bool(backend.shares) == (Capability.SHARE in backend.capabilities)


def test_a_missing_capability_is_refused_in_one_wording_before_any_call(write_profile) -> None:
    fake = FakeBackend(build_plan(load_profile(str(write_profile("name: box\n")))))
    fake.capabilities = frozenset({Capability.DEPRECATE})  # no copies
    assert not can(fake, Capability.COPY) and can(fake, Capability.DEPRECATE)
    with pytest.raises(BakeStepError, match="at step copy: the fake backend has no other regions to copy images to"):
        bake(fake.plan, fake, BakeOptions(regions=("r2",)), Quiet())
    assert fake.calls == []  # refused before the source was looked up, let alone a builder launched
    with pytest.raises(Unsupported, match="the fake backend has no channels"):
        require(fake, Capability.CHANNELS)
