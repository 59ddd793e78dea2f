"""A cloud builder's runner at a layer point (runner.sh.j2's layer_point, the target's layer-wait fragment):
run for real with bash against the metadata stand-ins (bootstrap/clouds/*/metadata.py), the fragment's
metadata address pointed at the stand-in. It says BOOTSTRAP-LAYER N, waits until its instance tag (EC2,
IMDSv2) or metadata (GCE) bootstrap-layer reads N, and no longer than its deadline; with no metadata
server, or no instance tags in IMDS, no host records layers: it says nothing and goes on at once."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from bootstrap.clouds.ec2.metadata import Ec2Metadata
from bootstrap.clouds.gce.metadata import GceMetadata
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile
from bootstrap.targets import TARGETS
from bootstrap.targets.bundle import runner_script

pytestmark = pytest.mark.skipif(subprocess.run(["sh", "-c", "command -v curl"], capture_output=True).returncode,
                                reason="needs curl")  # fmt: skip
FUNCTION = re.compile(r"^(\w+)\(\) \{\n.*?^\}\n", re.M | re.S)
FAST = "sleep() { SECONDS=$((SECONDS + 600)); }\n"  # each pause: ten minutes of the runner's clock, at once
REAL = "sleep() { command sleep 0.05; }\n"


def _waiter(target: str, base: str, console: Path, sleep: str = REAL, edits: dict[str, str] | None = None) -> str:
    """The runner's own layer_point, layer_said and metadata_get, the metadata address replaced by ``base``."""
    found = {m.group(1): m.group(0) for m in FUNCTION.finditer(runner_script(build_plan(load_profile("base")),
                                                                            target, bakes=True))}  # fmt: skip
    body = found["metadata_get"] + found["layer_point"] + found["layer_said"]
    for old, new in {"http://169.254.169.254": base, "/dev/console": str(console), **(edits or {})}.items():
        assert old in body
        body = body.replace(old, new)
    return "set -euo pipefail\nsay() { printf 'said: %s\\n' \"$*\"; }\n" + sleep + body + 'layer_point "$1"\n'


def _run(script: str, index: str = "2") -> tuple[str, float]:
    started = time.monotonic()
    done = subprocess.run(["bash", "-c", script, "runner", index], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout, time.monotonic() - started


def _later(seconds: float, change) -> threading.Timer:
    timer = threading.Timer(seconds, change)
    timer.start()
    return timer


def test_ec2_waits_until_its_instance_tag_reads_n(tmp_path) -> None:
    console = tmp_path / "console"
    with Ec2Metadata(None, "i-0b007") as imds:
        imds.tags = {"bootstrap:owner": "bootstrap", "bootstrap-layer": "1"}  # the layer before's word: not N
        script = _waiter("cloud-init", f"http://127.0.0.1:{imds.port}", console)
        timer = _later(0.8, lambda: imds.tags.update({"bootstrap-layer": "2"}))
        said, took = _run(script)
        timer.join()
        polls = len(imds.fetched("/meta-data/tags/instance/bootstrap-layer"))
    assert said == "said: layer 2: recorded (instance tag bootstrap-layer=2)\n"
    assert console.read_text() == "BOOTSTRAP-LAYER 2\n" and took >= 0.8 and polls >= 2


def test_ec2_stops_waiting_at_its_deadline(tmp_path) -> None:
    console = tmp_path / "console"
    with Ec2Metadata(None, "i-0b007") as imds:
        imds.tags = {"bootstrap:owner": "bootstrap"}  # the host never tells
        said, took = _run(_waiter("cloud-init", f"http://127.0.0.1:{imds.port}", console, FAST))
    assert said == "said: layer 2: no word from the host; not recorded\n"
    assert console.read_text() == "BOOTSTRAP-LAYER 2\n" and took < 60


def test_ec2_without_instance_tags_or_imds_goes_on_at_once_and_says_nothing(tmp_path) -> None:
    console = tmp_path / "console"
    with Ec2Metadata(None, "i-0b007") as imds:  # tags not enabled in IMDS: a builder no host waits on
        said, took = _run(_waiter("cloud-init", f"http://127.0.0.1:{imds.port}", console))
        port = imds.port
    assert said == "" and not console.exists() and took < 10
    said, _ = _run(_waiter("cloud-init", f"http://127.0.0.1:{port}", console))  # nobody listens there now
    assert said == "" and not console.exists()


def test_gce_waits_until_its_metadata_reads_n(tmp_path) -> None:
    console = tmp_path / "console"
    with GceMetadata({"startup-script": "x"}, "4242") as server:
        script = _waiter("gce", f"http://127.0.0.1:{server.port}", console)
        # absent at first (asked again after a pause), then the layer before's value (waited on), then N
        timers = [_later(0.4, lambda: server.set_attribute("bootstrap-layer", "1")),
                  _later(1.2, lambda: server.set_attribute("bootstrap-layer", "2"))]  # fmt: skip
        said, took = _run(script)
        for timer in timers:
            timer.join()
        asked = len(server.fetched("/attributes/bootstrap-layer"))
    assert said == "said: layer 2: recorded (metadata bootstrap-layer=2)\n"
    assert console.read_text() == "BOOTSTRAP-LAYER 2\n" and 1.2 <= took < 30
    assert asked <= 4  # woken by the change, not polling: the first value, one wait (or two), the answer


def test_gce_stops_waiting_at_its_deadline(tmp_path) -> None:
    console = tmp_path / "console"
    with GceMetadata({}, "4242") as server:  # never set: asked again after each pause
        said, took = _run(_waiter("gce", f"http://127.0.0.1:{server.port}", console, FAST))
        assert said == "said: layer 2: no word from the host; not recorded\n" and took < 60
        server.set_attribute("bootstrap-layer", "1")  # set but never N: each wait ends at its timeout
        said, took = _run(_waiter("gce", f"http://127.0.0.1:{server.port}", console,
                                  edits={"SECONDS + 3600": "SECONDS + 3", "timeout_sec=60": "timeout_sec=1"}))
    assert said == "said: layer 2: no word from the host; not recorded\n" and 3 <= took < 30


def test_gce_without_a_metadata_server_goes_on_at_once(tmp_path) -> None:
    console = tmp_path / "console"
    with GceMetadata({}, "4242") as server:
        port = server.port
    said, took = _run(_waiter("gce", f"http://127.0.0.1:{port}", console))
    assert said == "" and not console.exists() and took < 10


def test_only_a_builder_runner_has_a_layer_point_and_bash_s_goes_on_at_once() -> None:
    plan = build_plan(load_profile("base"))
    for target in TARGETS:
        assert "layer_point" not in runner_script(plan, target)  # an instance's runner: not a byte more
    bash = {m.group(1): m.group(0) for m in FUNCTION.finditer(runner_script(plan, "bash", bakes=True))}
    assert "  else\n    return 0\n  fi\n" in bash["layer_point"] and "169.254" not in bash["layer_point"]
