"""Shared caches under concurrent runs (issue 23): one builder at a time, said; nothing replaced
under a machine that boots from it. The builder is a stand-in that takes its time, so this runs in
about a second."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from bootstrap import locks
from bootstrap.localvm import image


@pytest.fixture
def slow_builder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """A stand-in for mmdebstrap and mkfs: counts builders at work and writes the image's files."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(image, "missing_tools", lambda: [])
    state = {"running": 0, "most": 0, "builds": 0}
    guard = threading.Lock()

    def build(work: Path, progress) -> None:  # type: ignore[no-untyped-def]
        with guard:
            state["running"] += 1
            state["most"] = max(state["most"], state["running"])
            state["builds"] += 1
            number = state["builds"]
        time.sleep(0.4)
        for name in ("base.qcow2", "vmlinuz", "initrd.img"):
            (work / name).write_text(f"build {number}")
        with guard:
            state["running"] -= 1

    monkeypatch.setattr(image, "_build", build)
    return state


def test_two_runs_building_the_base_image_at_once_build_it_once(slow_builder: dict[str, int]) -> None:
    said: list[str] = []
    results: list[Path] = []
    runs = [threading.Thread(target=lambda: results.append(image.ensure_base_image(progress=said.append).disk))
            for _ in range(2)]  # fmt: skip
    for run in runs:
        run.start()
        time.sleep(0.05)
    for run in runs:
        run.join(10)
    assert slow_builder["most"] == 1 and slow_builder["builds"] == 1
    assert len(results) == 2 and results[0].read_text() == "build 1"
    assert any(line.startswith("waiting for another bootstrap building") for line in said), said


def test_a_rebuild_waits_for_the_machines_using_the_base_image(slow_builder: dict[str, int]) -> None:
    base = image.ensure_base_image(progress=lambda _: None)
    in_use = locks.Shared(base.lock, "the base image")  # what a Machine holds for its whole life
    said: list[str] = []
    rebuild = threading.Thread(target=lambda: image.ensure_base_image(rebuild=True, progress=said.append))
    rebuild.start()
    time.sleep(0.8)
    assert base.disk.read_text() == "build 1", "the disk a running machine reads was replaced"
    assert slow_builder["builds"] == 1 and any("building or using" in line for line in said), said
    in_use.release()
    rebuild.join(10)
    assert base.disk.read_text() == "build 2"
    assert not [p for p in base.folder.parent.iterdir() if p.name.startswith((".base-", ".old-"))]


def test_a_wait_that_never_ends_gives_up_and_says_why(tmp_path: Path) -> None:
    from bootstrap.errors import BackendError

    held = locks.Shared(tmp_path / "x.lock", "x")
    try:
        with pytest.raises(BackendError, match="gave up waiting for the thing"), \
                locks.exclusive(tmp_path / "x.lock", "the thing", lambda _: None, timeout=0.5):  # fmt: skip
            pass
    finally:
        held.release()


def test_the_lock_file_is_private_and_never_a_planted_link(tmp_path: Path) -> None:
    (tmp_path / "planted.lock").symlink_to(tmp_path / "elsewhere")
    from bootstrap.errors import BackendError

    with pytest.raises(BackendError, match="cannot open the lock"), locks.exclusive(tmp_path / "planted.lock", "x"):
        pass
    assert not (tmp_path / "elsewhere").exists()
    with locks.exclusive(tmp_path / "mine.lock", "x"):
        assert (tmp_path / "mine.lock").stat().st_mode & 0o777 == 0o600
