"""Journey 1, a DevOps engineer: writes a GPU profile for a data scientist (NVIDIA driver, conda,
an EBS data disk, JupyterLab with a token secret, idle shutdown), validates it, renders it for
EC2, GCE and plain bash, checks it, reads the plan; then makes five classic mistakes, each of
which must answer exit 2 at file:line:column, never a traceback."""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path

import pytest

from .conftest import Run

PROFILE = """\
# yaml-language-server: $schema=https://example.com/bootstrap/profile.schema.json
name: ml-gpu
description: A GPU box for the data science team
extends: [base]
nvidia:
  driver: "550"
  cuda: "12.4"
users:
  - name: scientist
    groups: [users]
    sudo: true
conda:
  environments:
    - name: ds
      spec:
        channels: [conda-forge]
        dependencies: [python=3.11, numpy, pandas, jupyterlab, ipykernel]
mounts:
  - path: /data
    type: block
    device: {ebs_volume_id: vol-0123456789abcdef0}
    format: true
    owner: scientist
secrets:
  - name: jupyter-token
    from: aws-ssm:/team/jupyter-token
    owner: scientist
services:
  jupyter:
    user: scientist
    conda_env: ds
    token_secret: jupyter-token
idle_shutdown:
  after_minutes: 60
"""
LOCATION = re.compile(r"ml-gpu\.yaml:(\d+):(\d+)")


def test_a_gpu_profile_from_empty_folder_to_checked_user_data(repo: Path, bootstrap: Run) -> None:
    (repo / "ml-gpu.yaml").write_text(PROFILE)
    assert bootstrap("validate", "ml-gpu.yaml").stdout.startswith("ok: ml-gpu.yaml")
    (repo / "out").mkdir()
    bootstrap("render", "ml-gpu.yaml", "--target", "ec2", "-o", "out/ec2-user-data")
    ec2 = (repo / "out" / "ec2-user-data").read_bytes()
    assert len(ec2) <= 16384  # what EC2 accepts
    text = gzip.decompress(ec2).decode() if ec2[:2] == b"\x1f\x8b" else ec2.decode()
    assert "Content-Type: multipart/mixed" in text
    assert "aws-ssm" in text and "/team/jupyter-token" in text  # the secret is a reference, fetched at boot
    bootstrap("render", "ml-gpu.yaml", "--target", "gce", "-o", "out/gce-startup.sh")
    gce = (repo / "out" / "gce-startup.sh").read_text()
    assert gce.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in gce
    bootstrap("render", "ml-gpu.yaml", "--target", "bash", "-o", "out/bootstrap.sh")
    assert (repo / "out" / "bootstrap.sh").read_text().startswith("#!")
    explained = bootstrap("explain", "ml-gpu.yaml").stdout
    for step in ("nvidia", "conda", "mounts", "secrets", "jupyter", "idle-shutdown"):
        assert step in explained, step
    if shutil.which("shellcheck") and shutil.which("cloud-init"):
        checked = bootstrap("check", "ml-gpu.yaml", "--target", "ec2", "--target", "gce")
        assert "FAILED" not in checked.stdout
    else:  # the tools are missing: said, with how to install them
        missing = bootstrap("check", "ml-gpu.yaml", expect=2)
        assert "apt-get install" in missing.stderr


MISTAKES = [
    # (what the engineer did, the edit, a phrase of the answer, the line the answer points at)
    ("a misspelt key", ("idle_shutdown:", "idle_shutdwn:"), "did you mean 'idle_shutdown'", "idle_shutdwn:"),
    ("an unquoted driver version", ('driver: "550"', "driver: 550"), "quote it", "driver: 550"),
    ("a time zone that does not exist", ("extends: [base]", "extends: [base]\ntimezone: Mars/Olympus"),
     "Mars/Olympus", "timezone: Mars/Olympus"),
    ("jupyter on an environment that is not declared", ("conda_env: ds", "conda_env: dss"), "dss", "conda_env: dss"),
    ("a list left open", ("groups: [users]", "groups: [users"), "opened at line", None),
]  # fmt: skip


@pytest.mark.parametrize("mistake", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_five_classic_mistakes_answer_exit_2_at_the_line(repo: Path, bootstrap: Run, mistake: tuple) -> None:
    _, (before, after), phrase, culprit = mistake
    assert before in PROFILE
    (repo / "ml-gpu.yaml").write_text(PROFILE.replace(before, after, 1))
    for command in (["validate", "ml-gpu.yaml"], ["render", "ml-gpu.yaml", "--target", "ec2"]):
        answer = bootstrap(*command, expect=2).stderr
        assert phrase in answer, answer
        where = LOCATION.search(answer)
        assert where, f"no file:line:column in {answer!r}"
        if culprit:
            lines = (repo / "ml-gpu.yaml").read_text().splitlines()
            assert culprit in lines[int(where[1]) - 1], answer
