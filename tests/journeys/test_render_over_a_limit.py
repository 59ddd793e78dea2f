"""`bootstrap render` of a profile over a cloud's size limit, as a user meets it: refused (exit 1), and
the message names the largest parts, each with the profile line that made it, so the user knows what
to move out (to a bucket, or into a baked image)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from .conftest import Run

PROFILE = """\
name: big
files:
  - path: /opt/model/weights.bin
    source: weights.bin
  - path: /opt/notes.txt
    source: notes.txt
commands:
  first_boot:
    - name: hello
      run: echo hello
"""


@pytest.mark.parametrize("target", ["ec2", "gce"])
def test_the_refusal_names_the_largest_parts(repo: Path, bootstrap: Run, target: str) -> None:
    (repo / "weights.bin").write_bytes(random.Random(7).randbytes(200_000))  # does not compress
    (repo / "notes.txt").write_text("".join(f"note {n}: keep the run logs\n" for n in range(2000)))
    (repo / "big.yaml").write_text(PROFILE)
    refused = bootstrap("render", "big.yaml", "-t", target, "-o", "out", expect=1)
    assert not (repo / "out").exists()
    [line] = [line for line in refused.stderr.splitlines() if "largest parts:" in line]
    parts = re.findall(r"([\w.-]+) ([\d,]+) B", line)
    assert [name for name, _ in parts][:2] == ["file-opt-model-weights.bin", "file-opt-notes.txt"], line
    assert len(parts) == 3 and int(parts[0][1].replace(",", "")) > 200_000, line
    assert "(big.yaml:3:5)" in line and "(big.yaml:5:5)" in line, line  # where each comes from
