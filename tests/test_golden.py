"""Golden files: the rendered output of every built-in profile for every target.

A change to templates shows up here as a reviewable diff. Update deliberately with
``pytest tests/test_golden.py --update-golden`` and commit the new files with the change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap.planner import build_plan
from bootstrap.profile import builtin_profiles, load_profile
from bootstrap.targets import TARGET_RECORDS, TARGETS, render

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", sorted(builtin_profiles()))
def test_golden(name: str, target: str, request: pytest.FixtureRequest) -> None:
    artifact = render(build_plan(load_profile(name)), target)
    path = GOLDEN / f"{name}.{target}.{TARGET_RECORDS[target].suffix}"
    if request.config.getoption("--update-golden"):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(artifact.data)
        return
    assert path.exists(), f"missing golden file {path.name}: run pytest --update-golden"
    if artifact.data != path.read_bytes():
        import difflib
        import gzip

        def text(data: bytes) -> list[str]:
            return (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode().splitlines()

        diff = "\n".join(
            difflib.unified_diff(text(path.read_bytes()), text(artifact.data), "golden", "now", lineterm="")
        )
        pytest.fail(f"{path.name} differs from the golden file (update with --update-golden):\n{diff[:4000]}")
