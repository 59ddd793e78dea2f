"""Targets: structure, determinism and each cloud's size limits."""

from __future__ import annotations

import email
import gzip

import pytest

from bootstrap.errors import RenderError
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile
from bootstrap.targets import TARGETS, render
from bootstrap.targets.limits import EC2_USER_DATA, GCE_METADATA_VALUE


def plan_of(reference, *overrides):
    return build_plan(load_profile(str(reference), list(overrides)))


def test_cloud_init_user_data_is_two_part_mime() -> None:
    data = render(plan_of("base", "hostname=box.example.com"), "cloud-init").data.decode()
    message = email.message_from_string(data)
    assert message.get_content_type() == "multipart/mixed"
    parts = [p for p in message.walk() if not p.is_multipart()]
    assert [p.get_content_type() for p in parts] == ["text/cloud-config", "text/x-shellscript-per-boot"]
    config = parts[0].get_payload(decode=True).decode()
    assert config.startswith("#cloud-config\n")
    assert "hostname: box\n" in config and "fqdn: box.example.com\n" in config
    assert "exec /usr/local/lib/bootstrap/runner boot" in parts[1].get_payload(decode=True).decode()


def test_non_ascii_content_survives_mime(write_profile) -> None:
    profile = write_profile('name: u\nfiles: [{path: /etc/motd, content: "héllo ✓\\n"}]\n')
    message = email.message_from_string(render(plan_of(profile), "cloud-init").data.decode())
    config = next(p for p in message.walk() if p.get_content_type() == "text/cloud-config")
    assert config["Content-Transfer-Encoding"] == "base64"
    assert "héllo ✓" in config.get_payload(decode=True).decode("utf-8")


@pytest.mark.parametrize("target", TARGETS)
def test_rendering_is_deterministic(target: str) -> None:
    assert render(plan_of("base"), target).data == render(plan_of("base"), target).data


def _big_profile(write_profile, kib: int, random: bool = False):
    import base64
    import os

    text = base64.b64encode(os.urandom(kib * 768)).decode() if random else "x" * (kib * 1024)
    return write_profile(f"name: big\nfiles: [{{path: /etc/big, content: '{text}'}}]\n")


def test_ec2_gzips_when_over_the_limit(write_profile) -> None:
    artifact = render(plan_of(_big_profile(write_profile, 20)), "ec2")
    assert artifact.gzipped and len(artifact.data) <= EC2_USER_DATA
    assert gzip.decompress(artifact.data).startswith(b"Content-Type: multipart/mixed")
    assert "over EC2's 16,384" in artifact.notes[0]


def test_ec2_small_output_stays_plain(write_profile) -> None:
    artifact = render(plan_of(write_profile("name: tiny\n")), "ec2")
    assert not artifact.gzipped and len(artifact.data) < EC2_USER_DATA


def test_ec2_refuses_when_gzip_is_still_too_big(write_profile) -> None:
    with pytest.raises(RenderError) as caught:
        render(plan_of(_big_profile(write_profile, 40, random=True)), "ec2")
    message = str(caught.value)
    assert "bytes raw" in message and "gzipped" in message and "gzipped+base64" in message
    assert "16,384" in message and "bake an image" in message


def test_gce_refuses_over_the_metadata_limit(write_profile) -> None:
    # Sources are capped at 256 KiB, but inline content is not: 300 KiB of text is over.
    with pytest.raises(RenderError, match="262,144 bytes per metadata value"):
        render(plan_of(_big_profile(write_profile, 300)), "gce")
    assert len(render(plan_of("base"), "gce").data) < GCE_METADATA_VALUE


def test_gce_script_waits_for_cloud_init_and_bash_installs_a_unit() -> None:
    gce = render(plan_of("base"), "gce").data.decode()
    bash = render(plan_of("base"), "bash").data.decode()
    # cloud-init's config stage, not its final one: that waits for multi-user.target, which waits for us.
    assert "cloud-config.service" in gce and "/run/cloud-init/result.json" not in gce
    assert "bootstrap.service" not in gce
    assert "systemctl enable bootstrap.service" in bash and "cloud-config.service" not in bash
    for script in (gce, bash):
        assert script.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in script


def test_render_imports_no_cloud_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from bootstrap.cli import main\n"
        "main(['render', 'base', '--target', 'ec2', '-o', '/dev/null'])\n"
        "print([m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore') or m.startswith('google.cloud')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_cloud_config_reader_keeps_every_part_even_under_one_name() -> None:
    """cloud-init runs every part whatever its file name: `check` reads each, as the list before the
    per-target readers did (a second part of the same name was dropped unchecked)."""
    from bootstrap.targets import TARGET_RECORDS
    from bootstrap.targets._cloud_config import multipart

    data = multipart([("text/cloud-config", "a.yaml", "#cloud-config\nhostname: one\n"),
                      ("text/cloud-config", "a.yaml", "#cloud-config\nruncmd: [[touch, /x]]\n"),
                      ("text/x-shellscript", "s.sh", "#!/bin/sh\necho one\n"),
                      ("text/x-shellscript", "s.sh", "#!/bin/sh\necho two\n")]).encode()  # fmt: skip
    carried = TARGET_RECORDS["cloud-init"].read(data)
    assert sorted(carried.configs.values()) == ["#cloud-config\nhostname: one\n",
                                                "#cloud-config\nruncmd: [[touch, /x]]\n"]  # fmt: skip
    assert len(carried.scripts) == 2
