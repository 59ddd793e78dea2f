"""The suite's tiers, marked from where a test lives and what it uses, never by hand alone.

* by folder: tests/journeys -> ``journey``, tests/adversarial -> ``adversarial``, tests/semantic -> ``semantic``;
* by fixture: a test whose fixtures (at any depth) include ``sandbox`` is ``sandbox``; one that uses moto
  (``aws``, ``moto_server``) or the Compute API stand-in (``gce_server``) is ``cloud``.

A test that builds a sandbox or starts a stand-in by itself, without those fixtures, must carry the marker
by hand: ``require`` (called by tests/sandbox.py and tests/gce_standin.py) fails it when it does not, so
that ``-m "not sandbox"`` never runs a throwaway root and ``-m "not cloud"`` never starts a stand-in.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FOLDER_TIERS = {"journeys": "journey", "adversarial": "adversarial", "semantic": "semantic"}
FIXTURE_TIERS = {"sandbox": "sandbox", "aws": "cloud", "moto_server": "cloud", "gce_server": "cloud"}


class UnmarkedTier(AssertionError):
    """A test used what a tier stands for (a sandbox, a cloud stand-in) without carrying its marker."""


def tiers_of(item: pytest.Item) -> set[str]:
    """The tiers ``item`` belongs to, from its folder under tests/ and its fixtures' closure."""
    found = set()
    path = Path(str(item.path)).resolve()
    if HERE in path.parents:
        folder = path.relative_to(HERE).parts[0]
        if folder in FOLDER_TIERS:
            found.add(FOLDER_TIERS[folder])
    for fixture in getattr(item, "fixturenames", ()):
        if fixture in FIXTURE_TIERS:
            found.add(FIXTURE_TIERS[fixture])
    return found


def mark(items: list[pytest.Item]) -> None:
    for item in items:
        have = {m.name for m in item.iter_markers()}
        for tier in sorted(tiers_of(item) - have):
            item.add_marker(getattr(pytest.mark, tier))


MATRIX_SKIP = pytest.mark.skip(reason="the VM tier's whole matrix runs with --matrix (bash tests/run -m vm --matrix): "
                                      "CI boots the representative set")  # fmt: skip


def skip_matrix(items: list[pytest.Item]) -> None:
    """The variants beyond the VM tier's representative set (another client of a cloud already proven, a
    second target's bake): in every run with --matrix, before resolving a change to the hand-offs."""
    for item in items:
        if item.get_closest_marker("matrix"):
            item.add_marker(MATRIX_SKIP)


class Running:
    """The test being set up or run now: its node id and markers (None outside a test)."""

    nodeid: str | None = None
    markers: frozenset[str] = frozenset()


def require(tier: str, what: str) -> None:
    """Fail the running test if it does ``what`` without the ``tier`` marker."""
    if Running.nodeid is not None and tier not in Running.markers:
        raise UnmarkedTier(f"{Running.nodeid} {what} but is not marked {tier}: take the fixture that marks it "
                           f"({', '.join(k for k, v in FIXTURE_TIERS.items() if v == tier)}) or add "
                           f"@pytest.mark.{tier} (see tests/tiers.py)")  # fmt: skip
