"""The tiers hold: every test carries the markers its folder and fixtures give it (tests/tiers.py), and a
test that builds a sandbox or starts a cloud stand-in without its marker fails, so `-m "not sandbox"` and
`-m "not cloud"` leave out every test of those kinds, however it was written."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib

from . import tiers
from .sandbox import Sandbox

REPO = Path(__file__).resolve().parent.parent


def test_every_collected_test_carries_its_tiers(request: pytest.FixtureRequest) -> None:
    """Over whatever this run collected (the whole suite, when it runs whole)."""
    missing = {item.nodeid: sorted(tiers.tiers_of(item) - {m.name for m in item.iter_markers()})
               for item in request.session.items}  # fmt: skip
    assert {k: v for k, v in missing.items() if v} == {}


def test_every_tier_is_registered() -> None:
    registered = {line.split(":", 1)[0]
                  for line in tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
                  ["markers"]}  # fmt: skip
    assert {*tiers.FOLDER_TIERS.values(), *tiers.FIXTURE_TIERS.values(), "vm"} <= registered


def test_an_unmarked_test_that_uses_a_tier_fails(tmp_path: Path, monkeypatch) -> None:
    from .gce_standin import Compute, ComputeServer

    monkeypatch.setattr(tiers.Running, "nodeid", "tests/test_new.py::test_forgot_its_marker")
    monkeypatch.setattr(tiers.Running, "markers", frozenset({"parametrize"}))
    with pytest.raises(tiers.UnmarkedTier, match="test_forgot_its_marker builds a throwaway root but is not marked "
                       "sandbox: take the fixture that marks it \\(sandbox\\)"):  # fmt: skip
        Sandbox(tmp_path / "machine")
    assert not (tmp_path / "machine").exists()  # refused before anything was made
    server = ComputeServer(Compute())
    try:
        with pytest.raises(tiers.UnmarkedTier, match="starts the Compute API stand-in but is not marked cloud"):
            server.__enter__()
    finally:
        server.server.server_close()
