"""The accelerator choice: forced by the environment, else probed once with a real boot and cached."""

from __future__ import annotations

import pytest

from bootstrap.localvm import accel


@pytest.fixture
def kvm_device(monkeypatch):
    monkeypatch.delenv("BOOTSTRAP_QEMU_ACCEL", raising=False)
    monkeypatch.setattr(accel.os, "access", lambda path, mode: path == "/dev/kvm")


def test_the_environment_decides_without_a_probe(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("BOOTSTRAP_QEMU_ACCEL", "kvm")
    assert accel.choose(tmp_path, probe=lambda: pytest.fail("probed")) == "kvm"
    monkeypatch.setenv("BOOTSTRAP_QEMU_ACCEL", "TCG")
    assert accel.choose(tmp_path, probe=lambda: pytest.fail("probed")) == "tcg"


def test_no_usable_kvm_device_means_tcg(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("BOOTSTRAP_QEMU_ACCEL", raising=False)
    monkeypatch.setattr(accel.os, "access", lambda path, mode: False)
    assert accel.choose(tmp_path, probe=lambda: pytest.fail("probed")) == "tcg"


@pytest.mark.parametrize(("boots", "verdict"), [(True, "kvm"), (False, "tcg")])
def test_a_kvm_device_is_probed_once_and_the_verdict_cached(kvm_device, tmp_path, boots, verdict) -> None:
    calls = []

    def probe() -> bool:
        calls.append(1)
        return boots

    assert accel.choose(tmp_path, probe=probe) == verdict
    assert accel.choose(tmp_path, probe=probe) == verdict
    assert len(calls) == 1 and list(tmp_path.glob("accel-*.json"))


def test_without_a_probe_the_choice_is_safe_and_not_cached(kvm_device, tmp_path) -> None:
    assert accel.choose(tmp_path) == "tcg" and not list(tmp_path.glob("accel-*.json"))


def test_a_guest_that_prints_nothing_fails_the_probe_quickly(tmp_path) -> None:
    import time

    serial = tmp_path / "serial.log"
    start = time.monotonic()
    assert not accel.qemu_runs(["sleep", "30"], [(b"Linux version", 0.5)], serial)
    assert time.monotonic() - start < 5
    assert accel.qemu_runs(["sh", "-c", f"echo 'Linux version 6' > {serial}; sleep 30"],
                           [(b"Linux version", 5.0)], serial)  # fmt: skip
