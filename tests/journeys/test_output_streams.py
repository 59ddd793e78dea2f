"""A DevOps engineer pipes what bootstrap writes: `render -t ec2 > user-data.bin` must write the bytes
whatever their size (a gzipped user data is binary), as `-o` does; only a terminal is refused."""

from __future__ import annotations

import gzip
import os
import pty
import subprocess
from pathlib import Path

from .conftest import BESIDE_PYTHON


def test_render_ec2_to_a_redirected_stdout_writes_every_byte(bootstrap, repo: Path) -> None:
    bootstrap("render", "gpu-pytorch", "--target", "ec2", "-o", "written.bin")
    with (repo / "piped.bin").open("wb") as out:
        piped = subprocess.run([str(BESIDE_PYTHON), "render", "gpu-pytorch", "--target", "ec2"], cwd=repo,
                               stdout=out, stderr=subprocess.PIPE, text=True, timeout=120)  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    data = (repo / "piped.bin").read_bytes()
    assert data == (repo / "written.bin").read_bytes() and len(data) > 4096
    assert gzip.decompress(data).startswith(b"Content-Type: multipart/mixed")


def test_render_ec2_to_a_terminal_is_refused_with_the_ways_out(repo: Path) -> None:
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run([str(BESIDE_PYTHON), "render", "gpu-pytorch", "--target", "ec2"], cwd=repo,
                              stdout=follower, stderr=subprocess.PIPE, text=True, timeout=120)  # fmt: skip
    finally:
        os.close(follower)
        os.close(leader)
    assert proc.returncode == 2 and "not on a terminal" in proc.stderr and "-o FILE" in proc.stderr


def test_an_output_that_cannot_be_written_is_said_not_a_traceback(repo: Path) -> None:
    for command in (["render", "base"], ["explain", "base"], ["validate", "base"]):
        with open("/dev/full", "w") as full:
            proc = subprocess.run([str(BESIDE_PYTHON), *command], cwd=repo, stdout=full, stderr=subprocess.PIPE,
                                  text=True, timeout=120)  # fmt: skip
        assert proc.returncode == 3 and "Traceback" not in proc.stderr, proc.stderr
        assert "cannot write the output: No space left on device" in proc.stderr
