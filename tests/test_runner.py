"""Runner semantics, executed for real in a throwaway root (tests/sandbox.py)."""

from __future__ import annotations

import email
import hashlib
from pathlib import Path

import pytest
import yaml

from bootstrap.planner import build_plan
from bootstrap.profile import load_profile
from bootstrap.targets import Variant, render

from .conftest import render_text
from .sandbox import Sandbox

PROFILE = """\
name: runner-test
packages: [htop, jq]
files:
  - path: /etc/demo.conf
    content: "first line\\n"
commands:
  first_boot:
    - name: one
      run: echo one >>/var/tmp/first-boot.log
    - name: two
      run: echo two >>/var/tmp/first-boot.log
  every_boot:
    - name: tick
      run: |
        test -s /var/tmp/first-boot.log  # every-boot sees first-boot's work, even on the first boot
        echo tick >>/var/tmp/every-boot.log
"""


def statuses(sandbox: Sandbox) -> dict[str, str]:
    return {s["id"]: s["status"] for s in sandbox.status()["steps"]}


def lines(sandbox: Sandbox, path: str) -> list[str]:
    return sandbox.read(path).split() if sandbox.exists(path) else []


@pytest.fixture
def script(write_profile) -> str:
    return render_text(write_profile(PROFILE), "bash")


def test_first_boot_runs_first_boot_then_every_boot(sandbox: Sandbox, script: str) -> None:
    result = sandbox.boot(script)
    assert result.returncode == 0, result.stdout + result.stderr
    assert lines(sandbox, "/var/tmp/first-boot.log") == ["one", "two"]
    assert lines(sandbox, "/var/tmp/every-boot.log") == ["tick"]
    order = [s["id"] for s in sandbox.status()["steps"]]
    assert order == ["packages", "file-etc-demo.conf", "cmd-one", "cmd-two", "cmd-tick"]
    assert sandbox.status()["result"] == "ok"
    assert sandbox.read("/etc/demo.conf") == "first line\n"
    assert "RESULT profile=runner-test mode=boot instance=i-sandbox-1 boot=1 result=ok" in result.stdout
    assert "BOOTSTRAP-RESULT ok -" in sandbox.read("/dev/console")
    log = sandbox.read("/var/log/bootstrap.log")
    assert "step cmd-one (first_boot, instance): start" in log and "[cmd-one]" not in log.split("start")[0]


def test_second_boot_runs_every_boot_only(sandbox: Sandbox, script: str) -> None:
    assert sandbox.boot(script).returncode == 0
    sandbox.clear_calls()
    result = sandbox.boot()
    assert result.returncode == 0, result.stdout
    assert lines(sandbox, "/var/tmp/first-boot.log") == ["one", "two"]
    assert lines(sandbox, "/var/tmp/every-boot.log") == ["tick", "tick"]
    assert sandbox.calls("apt-get") == []  # nothing installed, no network touched
    assert statuses(sandbox)["cmd-one"] == "done-earlier"
    assert sandbox.status()["boot"] == 2


def test_new_instance_runs_first_boot_again(sandbox: Sandbox, script: str) -> None:
    assert sandbox.boot(script).returncode == 0
    sandbox.new_instance("i-sandbox-2")
    assert sandbox.boot().returncode == 0
    assert lines(sandbox, "/var/tmp/first-boot.log") == ["one", "two", "one", "two"]
    assert sandbox.status()["instance_id"] == "i-sandbox-2"
    assert sandbox.status()["boot"] == 1


def test_failing_step_leaves_no_marker_and_next_boot_resumes_there(sandbox: Sandbox, write_profile) -> None:
    profile = write_profile(PROFILE.replace("echo two >>", "test -e /var/tmp/allow-two && echo two >>"))
    result = sandbox.boot(render_text(profile, "bash"))
    assert result.returncode == 1
    assert "step cmd-two (first_boot, instance): FAILED with exit 1" in result.stdout
    assert "result=failed failed_step=cmd-two" in result.stdout
    assert statuses(sandbox) == {"packages": "ok", "file-etc-demo.conf": "ok", "cmd-one": "ok", "cmd-two": "failed"}
    assert not sandbox.exists("/var/lib/bootstrap/instances/i-sandbox-1/done/cmd-two")
    assert not sandbox.exists("/var/tmp/every-boot.log")  # every-boot waits for first-boot to finish

    sandbox.path("/var/tmp/allow-two").touch()
    sandbox.clear_calls()
    assert sandbox.boot().returncode == 0
    assert lines(sandbox, "/var/tmp/first-boot.log") == ["one", "two"]  # cmd-one did not run again
    assert statuses(sandbox)["cmd-one"] == "done-earlier"
    assert statuses(sandbox)["cmd-two"] == "ok"
    assert sandbox.calls("apt-get") == []


def test_running_a_phase_twice_is_idempotent(sandbox: Sandbox, script: str) -> None:
    assert sandbox.boot(script).returncode == 0
    before = {p: sandbox.read(p) for p in ("/etc/demo.conf", "/var/tmp/first-boot.log")}
    sandbox.clear_calls()
    again = sandbox.run_script(script)  # the whole script again, same boot
    assert again.returncode == 0
    assert {p: sandbox.read(p) for p in before} == before
    assert [c for c in sandbox.calls() if c[0] != "systemctl"] == []
    assert "wrote" not in again.stdout


def test_changed_step_runs_again_on_same_instance(sandbox: Sandbox, write_profile) -> None:
    assert sandbox.boot(render_text(write_profile(PROFILE), "bash")).returncode == 0
    changed = write_profile(PROFILE.replace('"first line\\n"', '"second line\\n"'))
    assert sandbox.boot(render_text(changed, "bash")).returncode == 0
    assert sandbox.read("/etc/demo.conf") == "second line\n"
    assert statuses(sandbox)["file-etc-demo.conf"] == "ok"
    assert statuses(sandbox)["cmd-one"] == "done-earlier"


def test_baked_image_steps_are_skipped_on_a_new_instance(sandbox: Sandbox, script: str) -> None:
    install = script.replace("exec /usr/local/lib/bootstrap/runner boot", "exit 0")
    assert sandbox.run_script(install).returncode == 0
    bake = sandbox.run("/usr/local/lib/bootstrap/runner", "bake")
    assert bake.returncode == 0, bake.stdout
    baked = {s["id"] for s in sandbox.status()["steps"]}
    assert baked == {"packages", "file-etc-demo.conf"}  # image scope only; commands default to instance
    assert not sandbox.exists("/var/tmp/first-boot.log")

    sandbox.new_instance("i-from-image")
    sandbox.clear_calls()
    assert sandbox.boot().returncode == 0
    assert statuses(sandbox) == {"packages": "baked", "file-etc-demo.conf": "baked", "cmd-one": "ok",
                                 "cmd-two": "ok", "cmd-tick": "ok"}  # fmt: skip
    assert sandbox.calls("apt-get") == []


def test_a_bake_from_a_layer_skips_only_the_leading_baked_steps(sandbox: Sandbox, write_profile) -> None:
    """A builder booted from a cached layer finds the markers of the layer's steps: it skips those, and
    only while each one before was skipped too (a changed first step runs every step after it again)."""

    def bake(text: str) -> dict[str, str]:
        plan = build_plan(load_profile(str(write_profile(text))))
        script = render(plan, "bash", variant=Variant.BAKE).data.decode()
        install = script.replace("if /usr/local/lib/bootstrap/runner bake; then", "exit 0\nif true; then")
        assert sandbox.run_script(install).returncode == 0
        result = sandbox.run("/usr/local/lib/bootstrap/runner", "bake")
        assert result.returncode == 0, result.stdout
        return statuses(sandbox)

    assert bake(PROFILE) == {"packages": "ok", "file-etc-demo.conf": "ok"}
    assert bake(PROFILE.replace('"first line\\n"', '"second line\\n"')) == {"packages": "baked",
                                                                              "file-etc-demo.conf": "ok"}
    assert sandbox.read("/etc/demo.conf") == "second line\n"
    # The first step changed: the second, unchanged and marked, is rebuilt over it all the same.
    changed_first = PROFILE.replace("packages: [htop, jq]", "packages: [htop]").replace('"first line\\n"',
                                                                                         '"second line\\n"')
    assert bake(changed_first) == {"packages": "ok", "file-etc-demo.conf": "ok"}


def test_step_can_ask_for_a_reboot_and_the_phase_resumes(sandbox: Sandbox, write_profile) -> None:
    profile = write_profile("""\
        name: reboots
        commands:
          first_boot:
            - name: driver
              run: echo driver >>/var/tmp/log; exit 194
            - name: after
              run: echo after >>/var/tmp/log
        """)
    result = sandbox.boot(render_text(profile, "bash"))
    assert result.returncode == 0
    assert sandbox.calls("systemctl")[-1] == ["systemctl", "reboot"]
    assert sandbox.status()["result"] == "rebooting"
    assert "result=rebooting reboot_after=cmd-driver" in result.stdout  # not "failed_step": nothing failed
    assert "failed_step" not in result.stdout
    assert lines(sandbox, "/var/tmp/log") == ["driver"]
    assert sandbox.boot().returncode == 0
    assert lines(sandbox, "/var/tmp/log") == ["driver", "after"]


def _cloud_init_boot(sandbox: Sandbox, user_data: str) -> None:
    """What cloud-init does with our user data on a first boot, for the state comparison below.
    The real thing is proven by the VM tier; here: write_files, then the per-boot part."""
    message = email.message_from_string(user_data)
    parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in message.walk()
             if not p.is_multipart()}  # fmt: skip
    config = yaml.safe_load(parts["text/cloud-config"])
    for item in config["write_files"]:
        target = sandbox.path(item["path"])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(item["content"])
        target.chmod(int(item["permissions"], 8))
    sandbox.reboot()
    assert sandbox.run_script(parts["text/x-shellscript-per-boot"]).returncode == 0


def _state(sandbox: Sandbox) -> dict[str, str]:
    watched = ["/etc/demo.conf", "/var/tmp/first-boot.log", "/var/tmp/every-boot.log", "/etc/passwd",
               "/usr/local/lib/bootstrap/plan", "/usr/local/lib/bootstrap/lib.sh"]  # fmt: skip
    steps = sorted(p.name for p in sandbox.path("/usr/local/lib/bootstrap/steps").iterdir())
    state = {p: hashlib.sha256(sandbox.path(p).read_bytes()).hexdigest() for p in watched}
    state["steps"] = ",".join(steps)
    state["status"] = str(statuses(sandbox))
    return state


@pytest.mark.sandbox
def test_every_target_reaches_the_same_state(tmp_path: Path, write_profile) -> None:
    from . import sandbox as sandbox_module

    if reason := sandbox_module.available():
        pytest.skip(reason)
    profile = write_profile(PROFILE)
    states = {}
    for target in ("bash", "gce", "cloud-init"):
        machine = Sandbox(tmp_path / target)
        text = render_text(profile, target)
        if target == "cloud-init":
            _cloud_init_boot(machine, text)
        else:
            assert machine.boot(text).returncode == 0
        states[target] = _state(machine)
    assert states["bash"] == states["gce"] == states["cloud-init"]


def test_a_bake_from_another_profiles_layer_keeps_none_of_its_step_scripts(sandbox: Sandbox, write_profile) -> None:
    """A layer's disk holds every image step script its builder was handed, the later layers' too (written
    at its first boot, before the first layer point). A bake of another profile (or of this one, changed)
    from that layer must not carry them into its image: a file removed from the profile (a rotated key)
    would live on in a world-readable step script, and the image would not be the one a bake from scratch
    makes."""

    def bake(text: str) -> None:  # a local builder: cloud-init's write_files of the bake variant, then the runner
        plan = build_plan(load_profile(str(write_profile(text))))
        message = email.message_from_string(render(plan, "cloud-init", variant=Variant.BAKE).data.decode())
        part = next(p for p in message.walk() if p.get_content_type() == "text/cloud-config")
        for item in yaml.safe_load(part.get_payload(decode=True).decode())["write_files"]:
            target = sandbox.path(item["path"])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(item["content"])
            target.chmod(int(item["permissions"], 8))
        result = sandbox.run("/usr/local/lib/bootstrap/runner", "bake")
        assert result.returncode == 0, result.stdout

    secret = PROFILE.replace('    content: "first line\\n"\n',
                             '    content: "first line\\n"\n  - path: /etc/old-key\n    content: "hunter2\\n"\n')
    bake(secret)
    steps = "/usr/local/lib/bootstrap/steps"
    assert sandbox.exists(f"{steps}/file-etc-old-key.sh")
    bake(PROFILE)  # the same first layer (packages); the key's file removed
    assert not sandbox.exists(f"{steps}/file-etc-old-key.sh")
    assert sandbox.exists(f"{steps}/file-etc-demo.conf.sh")
