"""U+0085 (NEL), U+2028, U+2029 and friends: every target carries the profile's bytes verbatim.

YAML reads NEL as a line break, so a literal block in cloud-config turned `a<NEL>b` into `a\\nb`
while bash kept it: one profile, two machines. These tests install each target's files the way
its client does (cloud-init parses write_files with yaml.safe_load) and compare what lands.
"""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from bootstrap.checks import mime
from bootstrap.checks.output import check_rendered
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile
from bootstrap.targets import Artifact, render
from bootstrap.targets.bundle import machine_files

from .sandbox import Sandbox

# Only YAML's extra line breaks among printable text: a \r or \v would force double quotes and hide the bug.
BREAKS = "nel\x85ls\u2028ps\u2029|\n"
PROFILE = (
    'name: nel\nfiles:\n  - {path: /etc/nel.txt, content: "nel\\Nls\\Lps\\P|\\n", phase: every_boot}\n'
    "commands:\n  first_boot: ['printf %s \"nel\\u0085\" > /root/cmd.txt']\n"
)


def plan_of(write_profile):  # type: ignore[no-untyped-def]
    return build_plan(load_profile(str(write_profile(PROFILE))))


def cloud_init_files(data: bytes) -> dict[str, tuple[str, str]]:
    """path -> (permissions, content), read as cloud-init reads them."""
    parts, _ = mime.split(data, "t")
    [config] = [p.text for p in parts if p.content_type == "text/cloud-config"]
    return {f["path"]: (f["permissions"], f["content"]) for f in yaml.safe_load(config)["write_files"]}


def test_the_profile_value_is_what_we_think(write_profile) -> None:
    plan = plan_of(write_profile)
    assert BREAKS in next(s.script for s in plan.steps if s.feature == "files")


def test_cloud_config_carries_each_file_byte_for_byte(write_profile) -> None:
    plan = plan_of(write_profile)
    carried = cloud_init_files(render(plan, "cloud-init").data)
    for file in machine_files(plan, "cloud-init"):
        assert carried[file.path][1] == file.content, file.path


@pytest.mark.sandbox
def test_cloud_init_and_bash_write_the_same_bytes(write_profile, tmp_path) -> None:
    from . import sandbox as sandbox_module

    if reason := sandbox_module.available():
        pytest.skip(reason)
    plan = plan_of(write_profile)
    via_bash = Sandbox(tmp_path / "bash")
    assert via_bash.boot(render(plan, "bash").data).returncode == 0
    via_cloud_init = Sandbox(tmp_path / "cloud-init")
    for path, (mode, content) in cloud_init_files(render(plan, "cloud-init").data).items():
        target = via_cloud_init.path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        target.chmod(int(mode, 8))
    result = via_cloud_init.boot()
    assert result.returncode == 0, result.stdout + result.stderr
    for inside in ("/etc/nel.txt", "/root/cmd.txt"):
        assert via_cloud_init.path(inside).read_bytes() == via_bash.path(inside).read_bytes(), inside
    assert via_bash.path("/etc/nel.txt").read_bytes() == BREAKS.encode()


def test_check_reads_what_the_target_carries(write_profile) -> None:
    plan = plan_of(write_profile)
    artifact = render(plan, "cloud-init")
    assert not [f for f in check_rendered(plan, artifact) if f.check == "output"]
    # A target that loses a byte on the way is caught, whatever the plan says.
    tampered = artifact.data.replace(b"\\Nls", b"\\nls")
    assert tampered != artifact.data
    findings = check_rendered(plan, dataclasses.replace(artifact, data=tampered))
    assert [f for f in findings if f.check == "output" and "steps/file-etc-nel.txt.sh" in f.where]


def test_bash_heredocs_are_read_back_too(write_profile) -> None:
    plan = plan_of(write_profile)
    artifact = render(plan, "bash")
    assert not [f for f in check_rendered(plan, artifact) if f.check == "output"]
    tampered = Artifact("bash", artifact.data.replace("nel\x85".encode(), b"nel\n", 1))
    assert [f for f in check_rendered(plan, tampered) if f.check == "output"]
