"""The local backend's bookkeeping, without booting anything."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from bootstrap.bake.backend import Instance
from bootstrap.bake.local import GoldenImage, LocalBackend


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img")
def test_an_image_that_fails_half_way_leaves_no_file_behind(tmp_path: Path) -> None:
    """The disk converts and the kernel is linked, then the initrd is missing: nothing may stay."""
    disk = tmp_path / "builder.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    (tmp_path / "vmlinuz").write_bytes(b"kernel")
    base = GoldenImage(disk, tmp_path / "vmlinuz", tmp_path / "no-initrd.img")
    machine = SimpleNamespace(process=None, disk=disk, base=base)
    output = tmp_path / "images"
    output.mkdir()
    backend = LocalBackend(output, progress=lambda line: None)
    with pytest.raises(OSError):
        backend.create_image(Instance("builder-1", "builder", handle=machine), "bootstrap-x-1", {})
    assert list(output.iterdir()) == []


def test_a_dry_run_backend_creates_no_folder_and_reaps_nothing(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "images", progress=lambda line: None)
    assert backend.reap(0) == [] and backend.list_images("base") == []
    assert not (tmp_path / "images").exists()
