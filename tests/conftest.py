"""Shared fixtures: profiles written on the fly, rendering helpers, the sandbox root."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from bootstrap.planner import build_plan
from bootstrap.profile import load_profile
from bootstrap.targets import render

from . import sandbox as sandbox_module
from . import tiers
from .aws_fakes import aws, moto_server  # noqa: F401 - fixtures for the EC2 tests

REPO = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden/ from current output")
    parser.addoption("--matrix", action="store_true", help="also the VM tier's whole client matrix (tests "
                     "marked matrix: the variants beyond the representative set CI boots)")  # fmt: skip


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tiers.mark(items)  # journey, adversarial, semantic by folder; sandbox, cloud by fixture
    if not config.getoption("--matrix"):
        tiers.skip_matrix(items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):  # type: ignore[no-untyped-def]
    """What runs now, for tiers.require: module fixtures are set up and torn down inside some test."""
    tiers.Running.nodeid, tiers.Running.markers = item.nodeid, frozenset(m.name for m in item.iter_markers())
    try:
        return (yield)
    finally:
        tiers.Running.nodeid, tiers.Running.markers = None, frozenset()


@pytest.fixture(autouse=True)
def own_layer_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test its own default layer cache, never this user's: a bake's layers left there made a later
    `bootstrap test base` boot the baked layer, so its first boot ran no step (CI, stop 31)."""
    from bootstrap import paths
    from bootstrap.clouds.local import layers

    made: list[Path] = []
    real, users = layers.default_folder, os.environ.get("XDG_CACHE_HOME")

    def default_folder() -> Path:  # made when first asked for: most tests never are
        if os.environ.get("XDG_CACHE_HOME") != users:
            return real()  # the test set a cache of its own
        made[:] = made or [paths.private_folder(tmp_path_factory.mktemp("layer-cache"))]
        return made[0]

    monkeypatch.setattr(layers, "default_folder", default_folder)


@pytest.fixture
def write_profile(tmp_path: Path) -> Callable[..., Path]:
    """Write a profile (YAML text, dedented) into tmp_path and return its path."""

    def write(text: str, name: str = "profile.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    return write


def render_text(reference: str | Path, target: str, *overrides: str) -> str:
    plan = build_plan(load_profile(str(reference), list(overrides)))
    return render(plan, target).data.decode()


@pytest.fixture(scope="module")
def gce_server():  # type: ignore[no-untyped-def]
    """The stand-in Compute API on 127.0.0.1 (tests/gce_standin.py), one per test module."""
    from .gce_standin import Compute, ComputeServer

    compute = Compute()
    with ComputeServer(compute) as running:
        yield running, compute


@pytest.fixture
def sandbox(tmp_path: Path) -> sandbox_module.Sandbox:
    reason = sandbox_module.available()
    if reason:
        pytest.skip(reason)
    return sandbox_module.Sandbox(tmp_path / "machine")


ML_BOX = """\
name: ml-box
packages: [htop]
files: [{path: /etc/team.conf, content: "team=ml\\n"}]
commands:
  first_boot: [{name: hello, run: echo hello}]
  every_boot: [{name: tick, run: date}]
"""


@pytest.fixture
def ml_box(write_profile):
    """The plan of a small profile, for bakes against the clouds' stand-ins."""
    return build_plan(load_profile(str(write_profile(ML_BOX))))


@pytest.fixture
def gce_bake(gce_server, ml_box):
    """The Compute stand-in, fresh, and ml-box's plan."""
    running, compute = gce_server
    compute.reset()
    return running, compute, ml_box


def unchecked_script(path: Path) -> str:
    """The bash target of a profile planned without the feature checks: what render gave before them."""
    from bootstrap import schema
    from bootstrap.boundary import Boundary
    from bootstrap.profile import Profile
    from bootstrap.yamlload import load_file

    data = load_file(str(path))
    assert schema.validate(data) == []
    schema.apply_defaults(data)
    profile = Profile(name=data["name"], path=str(path), data=data, boundary=Boundary.for_profile(path),
                      folder=path.parent)  # fmt: skip
    return render(build_plan(profile), "bash").data.decode()
