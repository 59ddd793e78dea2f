"""SIGTERM (CI cancelling a job) and SIGINT clean up like an error, as the user's command sees it:
the bake, or every bake of a rebuild, deletes its machines and unpublished images, and exits 143.
Images that were never tested and promoted are never taken for "unchanged" afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bootstrap.bake.backend import TAG_EXPIRES, Identity, Image, Instance, Source
from bootstrap.bake.events import Quiet
from bootstrap.bake.lifecycle import BakeOptions, bake
from bootstrap.errors import BackendError
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile

from .gce_standin import Fault
from .test_bake_gce import ZONE, backend_for, our_images

pytest.importorskip("google.cloud.compute_v1")


@pytest.fixture
def stand_in(gce_server):
    running, compute = gce_server
    compute.reset()
    return running, compute


def start(running, *arguments: str) -> subprocess.Popen[str]:
    env = {**os.environ, "BOOTSTRAP_GCE_CREDENTIALS": "anonymous", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "bootstrap", *arguments, "-b", "gce", "--project", "team", "--zone", ZONE,
               "--endpoint-url", running.endpoint, "--timeout", "120"]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for(condition, what: str, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def test_sigterm_during_a_bake_deletes_the_builder_and_exits_143(stand_in, tmp_path: Path) -> None:
    running, compute = stand_in
    compute.behaviour["builder"] = "silent"  # a builder that is still working when CI cancels
    proc = start(running, "bake", str(write(tmp_path, "p.yaml", "name: p\npackages: [htop]\n")))
    wait_for(lambda: compute.instances, "the builder")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "stopped by SIGTERM" in err and "Traceback" not in err
    assert compute.instances == {} and our_images(compute) == []


def test_a_signal_while_the_cloud_creates_a_builder_still_deletes_it(stand_in, tmp_path: Path) -> None:
    running, compute = stand_in
    compute.slow["instances.insert"] = 1.5  # the instance exists; the answer is still on its way
    proc = start(running, "bake", str(write(tmp_path, "p.yaml", "name: p\npackages: [htop]\n")))
    wait_for(lambda: compute.instances, "the builder")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "stopping once the current call is done" in err
    assert compute.instances == {}


def test_a_second_signal_does_not_abort_the_clean_up(stand_in, tmp_path: Path) -> None:
    running, compute = stand_in
    compute.behaviour["builder"] = "silent"
    compute.faults["instances.delete"] = Fault(status=503, times=3)  # a clean-up that takes a few seconds
    proc = start(running, "bake", str(write(tmp_path, "p.yaml", "name: p\npackages: [htop]\n")))
    wait_for(lambda: compute.instances, "the builder")
    proc.send_signal(signal.SIGTERM)
    wait_for(lambda: "instances.delete" in compute.calls, "the clean-up to begin")
    proc.send_signal(signal.SIGINT)  # an impatient second Ctrl-C
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "cleaning up first" in err
    assert compute.instances == {}


def test_sigterm_stops_every_bake_of_a_threaded_rebuild(stand_in, tmp_path: Path) -> None:
    running, compute = stand_in
    compute.behaviour["builder"] = "silent"
    folder = tmp_path / "profiles"
    for name in ("alpha", "beta"):
        write(folder, f"{name}.yaml", f"name: {name}\npackages: [htop]\n")
    proc = start(running, "rebuild", str(folder), "--jobs", "2", "--manifest", str(tmp_path / "images.json"))
    wait_for(lambda: len(compute.instances) == 2, "both builders")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert compute.instances == {} and our_images(compute) == []


# -- an image nobody tested is never "unchanged" -----------------------------------------------


def test_an_untested_leftover_image_is_not_taken_as_built(stand_in, write_profile) -> None:
    running, compute = stand_in
    plan = build_plan(load_profile(str(write_profile("name: ml-box\npackages: [htop]\n"))))
    backend = backend_for(running)
    source = backend.resolve_source()
    identity = Identity(plan.profile, plan.image_hash, source.label or source.id)
    # What a SIGKILLed bake leaves: an image with the identity's labels, never tested or promoted.
    from bootstrap.clouds.gce.vocabulary import labels

    body = {
        "name": "leftover",
        "family": "bootstrap-ml-box",
        "labels": labels({**identity.tags(), "bootstrap:role": "image"}),
    }
    compute.images["team/leftover"] = compute._image_resource("team", body, "")
    leftover = Image("leftover", "leftover")
    assert backend.find_image(identity) is None
    result = bake(plan, backend, BakeOptions(build_timeout=5, test_timeout=5), Quiet())
    assert result.status == "built" and result.image and result.image.id != leftover.id
    assert backend.find_image(identity).id == result.image.id  # type: ignore[union-attr]
    assert bake(plan, backend, BakeOptions(), Quiet()).status == "unchanged"


def test_prune_leaves_images_bootstrap_did_not_make(stand_in, write_profile) -> None:
    running, compute = stand_in
    plan = build_plan(load_profile(str(write_profile("name: ml-box\npackages: [htop]\n"))))
    backend = backend_for(running)
    foreign = {"name": "someone-elses", "family": "x", "labels": {"bootstrap-profile": "ml-box",
                                                                  "bootstrap-role": "image"}}  # fmt: skip
    compute.images["team/someone-elses"] = compute._image_resource("team", foreign, "")
    for _ in range(2):
        bake(plan, backend, BakeOptions(force=True, keep=1, grace_days=0, build_timeout=5, test_timeout=5), Quiet())
    assert "someone-elses" in our_images(compute) and len(our_images(compute)) == 2


class RecordingBackend:
    """Records the tags a machine is launched with, then fails the launch: no cloud needed."""

    name, target = "fake", "cloud-init"

    def __init__(self) -> None:
        self.tags: dict[str, str] = {}

    def resolve_source(self, create: bool = True) -> Source:
        return Source("src", "a source")

    def find_image(self, identity: Identity) -> Image | None:
        return None

    def launch(self, role: str, source: str, user_data: bytes, tags: dict[str, str]) -> Instance:
        self.tags = tags
        raise BackendError("stop here")


def test_a_builder_outlives_its_own_bake_timeout(write_profile) -> None:
    plan = build_plan(load_profile(str(write_profile("name: p\npackages: [htop]\n"))))
    backend = RecordingBackend()
    options = BakeOptions(build_timeout=6 * 3600, test_timeout=3600)
    with pytest.raises(BackendError):
        bake(plan, backend, options, Quiet())  # type: ignore[arg-type]
    expires = float(backend.tags[TAG_EXPIRES]) - time.time()
    assert expires > options.build_timeout + options.test_timeout  # reap cannot take it mid-bake
    assert backend.tags["bootstrap:owner"] == "bootstrap"


def test_ec2_takes_only_promoted_images_as_built(aws) -> None:
    from .test_bake_ec2 import make_backend

    backend = make_backend(aws, aws.session())
    source = backend.resolve_source()
    identity = Identity("ml-box", "0123456789abcdef", source.id)
    builder = backend.launch("builder", source.id, b"#!/bin/sh\n", {**identity.tags(), "bootstrap:role": "builder"})
    image = backend.create_image(builder, "bootstrap-ml-box-leftover", {**identity.tags(), "bootstrap:role": "image"})
    backend.delete_instance(builder)
    assert backend.find_image(identity) is None  # made, never tested or promoted: a leftover
    backend.promote(image, identity)
    assert backend.find_image(identity).id == image.id  # type: ignore[union-attr]


# -- a library that wraps every exception does not hide the signal -------------------------------


def test_a_signal_a_library_wrapped_in_its_own_error_still_exits_143(monkeypatch, capsys) -> None:
    """The CI run that failed: SIGTERM arrived while protobuf parsed a Compute API answer, and its
    `except Exception` turned Interrupted into a ParseError, which left as a traceback and exit 1."""
    import argparse

    from bootstrap import cli

    def parsing(args: argparse.Namespace) -> int:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises here
        except Exception as exc:  # what google.protobuf.json_format.Parse does
            raise ValueError(f"Failed to load JSON: {exc}") from exc
        return 0

    parser = argparse.ArgumentParser()
    parser.set_defaults(handler=parsing, command="bake")
    monkeypatch.setattr(cli, "_build_parser", lambda: parser)
    assert cli.main([]) == 143
    err = capsys.readouterr().err
    assert "stopped by SIGTERM" in err and "Traceback" not in err


def test_a_signal_handled_in_one_command_does_not_cancel_the_next() -> None:
    """A caller that runs commands in one process (a library user, the suite): after a command stopped by
    SIGTERM, the next one's waits are not cut short (a throttling storm's retries raised Interrupted)."""
    import os
    import signal

    from bootstrap import interrupts

    with pytest.raises(interrupts.Interrupted), interrupts.handle_signals():
        os.kill(os.getpid(), signal.SIGTERM)
        interrupts.sleep(5)
    assert not interrupts.CANCELLED.is_set()
    interrupts.sleep(0.01)  # outside any command: a plain wait
