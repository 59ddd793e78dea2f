"""Malformed profiles (tests/data/bad/): each is refused with a clear, located message.

Every case: exit code 2, the expected message at ``file:line:column``, no traceback, and a
quick answer, however hostile the input (alias bombs, deep nesting, 10 MB files).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from bootstrap.cli import main

BAD = Path(__file__).parent / "data" / "bad"
EXPECTED = yaml.safe_load((BAD / "expected.yaml").read_text())


def test_corpus_is_complete() -> None:
    files = {p.stem for p in BAD.glob("*.yaml")} - {"expected"}
    assert files == set(EXPECTED) and len(files) >= 40


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_profile(name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(BAD)
    start = time.perf_counter()
    code = main(["validate", f"{name}.yaml"])
    elapsed = time.perf_counter() - start
    err = capsys.readouterr().err
    case = EXPECTED[name]
    assert code == 2
    assert case["message"] in err, err
    if case["where"]:
        assert f"{case.get('file', name)}.yaml:{case['where']}: error:" in err, err
    assert "Traceback" not in err
    assert elapsed < 3, f"{name} took {elapsed:.1f}s"


def test_huge_profile_is_refused_quickly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    huge = tmp_path / "huge.yaml"
    with huge.open("w") as handle:
        handle.write("name: x\nenv:\n")
        for i in range(250_000):
            handle.write(f"  VAR_{i}: value-{i}-{'x' * 20}\n")
    assert huge.stat().st_size > 10_000_000
    start = time.perf_counter()
    assert main(["validate", str(huge)]) == 2
    assert time.perf_counter() - start < 3
    assert f"{huge}:1:1: error: file is 1,048,577 bytes" in capsys.readouterr().err


def test_whole_corpus_through_the_real_process() -> None:
    files = sorted(str(p.name) for p in BAD.glob("*.yaml") if p.stem != "expected")
    env = {**os.environ, "PYTHONPATH": str(BAD.parents[2])}
    result = subprocess.run([sys.executable, "-m", "bootstrap", "validate", *files], cwd=BAD, env=env,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # not one of them validated
