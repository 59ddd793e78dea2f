"""The phase model (issue 22 item 1), held on every target in the sandbox: what runs when, on the
first boot, a reboot, the runner started again in the same boot, a new instance of the same disk,
and an instance of a golden image. docs/devops.md's table says the same.

One order on every boot: an every-boot step runs at its place, so the host name, the mounts and the
secrets are there for the first-boot steps after them. Before this model, a first-boot command that
read a secret failed on every boot, forever (the secrets came after all first-boot steps), and the
host name came last on gce and bash.
"""

from __future__ import annotations

import email
import gzip
from pathlib import Path

import pytest
import yaml

from bootstrap.plan import Phase, Scope
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile
from bootstrap.targets import TARGET_RECORDS, TARGETS, Variant, _cloud_config

from .sandbox import Sandbox, available

pytestmark = [pytest.mark.sandbox, pytest.mark.skipif(available() is not None, reason=str(available()))]

PROFILE = """\
name: matrix
hostname: matrix-box
packages: [jq]
users: [{name: alice}]
mounts:
  - {path: /data, type: block, device: {label: data}, owner: "alice:alice"}
secrets:
  - {name: token, from: "aws-ssm:/team/token", owner: alice}
files:
  - {path: /etc/matrix.conf, content: "matrix\\n", phase: every_boot}
commands:
  first_boot:
    - name: label
      run: |
        echo "label $(awk '$1 == "127.0.1.1" {print $2}' /etc/hosts)" >>/var/tmp/order   # the host name is set
      before: [mounts]
    - name: clone
      run: |
        test -s /run/bootstrap/secrets/token   # fetched on this boot, before this step
        grep -q ' /data ' /etc/fstab           # mounted on this boot, before this step
        echo clone >>/var/tmp/order
  every_boot:
    - {name: tick, run: "echo tick >>/var/tmp/order"}
services:
  units: [{name: web, command: "sleep infinity", user: alice}]
"""
# The order the model gives this profile: the host name first, the label command before the mount,
# the mount and the secret before the first-boot command that uses them, the services after the commands.
ORDER = ["hostname", "packages", "users", "mounts-tools", "cmd-label", "mounts", "secrets", "file-etc-matrix.conf",
         "cmd-clone", "cmd-tick", "services"]  # fmt: skip
UNIT = "/etc/systemd/system/bootstrap.service"


class Machine:
    """A sandbox machine and the way its target's client starts the runner, told by the target's record and
    bytes, not its name (every target of the registry is held here): cloud-init reads a cloud-config carrier;
    a script that installs bootstrap.service (bash) is run once and the unit starts the runner on later boots;
    one that installs none (gce) is run on every boot by its cloud's agent."""

    def __init__(self, base: Path, target: str, text: bytes):
        self.box = Sandbox(base)
        self.target, self.text = target, text
        self.cloud_config = TARGET_RECORDS[target].carrier is _cloud_config.CARRIER
        self.box.answer("curl", "/latest/api/token", "TOKEN")
        self.box.answer("curl", "placement/region", "eu-west-1")
        self.box.answer("aws", "ssm get-parameter", "s3cr3t")
        self.box.answer("blkid", "UUID", "c0ffee00-1234")
        device = self.box.path("/dev/disk/by-label/data")
        device.parent.mkdir(parents=True, exist_ok=True)
        device.touch()

    def _parts(self) -> dict[str, str]:
        data = gzip.decompress(self.text) if self.text[:2] == b"\x1f\x8b" else self.text
        message = email.message_from_bytes(data)
        return {p.get_content_type(): p.get_payload(decode=True).decode() for p in message.walk()
                if not p.is_multipart()}  # fmt: skip

    def install(self) -> None:
        """What the client does once per instance before any script: cloud-init's write_files."""
        if self.cloud_config:
            for item in yaml.safe_load(self._parts()["text/cloud-config"])["write_files"]:
                path = self.box.path(item["path"])
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(item["content"])
                path.chmod(int(item["permissions"], 8))

    def start(self) -> None:
        """What the client runs on every boot: the per-boot part, the startup script, our unit."""
        if self.cloud_config:
            result = self.box.run_script(self._parts()["text/x-shellscript-per-boot"])
        elif not self.box.exists(UNIT):
            result = self.box.run_script(self.text)
        else:  # the script ran once; the unit it installed starts the runner on every later boot
            result = self.box.run("/usr/local/lib/bootstrap/runner", "boot")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]

    def first_boot(self) -> None:
        self.box.reboot()
        self.install()
        self.start()

    def seen(self) -> list[tuple[str, str]]:
        return [(s["id"], s["status"]) for s in self.box.status()["steps"]]

    def order_file(self) -> list[str]:
        return self.box.read("/var/tmp/order").splitlines()


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("matrix") / "profile.yaml"
    path.write_text(PROFILE)
    return path, build_plan(load_profile(str(path)))


def expected(plan, column: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """docs/devops.md's table, step by step."""
    rows = []
    for step in plan.ordered:
        once, image = step.phase == Phase.FIRST_BOOT, step.scope == Scope.IMAGE
        status = {"boot 1": "ok", "new instance": "ok",
                  "boot 2": "done-earlier" if once else "ok", "again": "done-earlier" if once else "ok",
                  "golden": "baked" if once and image else "ok"}[column]  # fmt: skip
        rows.append((step.id, status))
    return rows


def test_the_plan_is_in_the_model_s_order(plan) -> None:  # type: ignore[no-untyped-def]
    assert [s.id for s in plan[1].ordered] == ORDER


@pytest.mark.parametrize("target", TARGETS)
def test_what_runs_when_is_the_same_on_every_target(plan, target: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, the_plan = plan
    text = _rendered(path, target)
    machine = Machine(tmp_path / "one", target, text)

    machine.first_boot()
    assert machine.seen() == expected(the_plan, "boot 1")
    # the label command ran after the host name was set; the clone found the secret and the mount
    assert machine.order_file() == ["label matrix-box", "clone", "tick"]

    machine.box.reboot()
    machine.start()
    assert machine.seen() == expected(the_plan, "boot 2")

    machine.start()  # started again in the same boot (GCE's agent, a manual rerun)
    assert machine.seen() == expected(the_plan, "again")
    assert machine.order_file() == ["label matrix-box", "clone", "tick", "tick", "tick"]

    machine.box.new_instance("i-sandbox-2")  # the same disk, a new instance
    machine.first_boot()
    assert machine.seen() == expected(the_plan, "new instance")

    # a builder runs the bake variant (image-scope steps only); an instance of its image boots
    golden = Machine(tmp_path / "golden", target, _rendered(path, target, Variant.EXTERNAL_BAKE))
    golden.first_boot()
    assert {status for _, status in golden.seen()} == {"ok"} and not golden.box.exists("/var/tmp/order")
    golden.text = text
    golden.box.new_instance("i-from-image")
    golden.first_boot()
    assert golden.seen() == expected(the_plan, "golden")
    assert golden.order_file() == ["label matrix-box", "clone", "tick"]


def _rendered(path: Path, target: str, variant: Variant = Variant.USER_DATA) -> bytes:
    from bootstrap.targets import render

    return render(build_plan(load_profile(str(path))), target, variant=variant).data
