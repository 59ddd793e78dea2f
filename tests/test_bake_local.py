"""The local backend's bookkeeping, without booting anything."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from bootstrap.bake.backend import Instance
from bootstrap.clouds.local.backend import GoldenImage, LocalBackend


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


def test_reap_takes_only_expired_machines_of_its_own(tmp_path: Path) -> None:
    import json
    import time

    output = tmp_path / "images"
    now = time.time()
    ours = {"bootstrap:owner": "bootstrap", "bootstrap:role": "builder"}
    machines = {
        "bootstrap-builder-old": {**ours, "bootstrap:expires": str(now - 10)},
        "bootstrap-builder-busy": {**ours, "bootstrap:expires": str(now + 3600)},  # its bake still runs
        "bootstrap-test-odd": {**ours, "bootstrap:expires": "soon"},
        "bootstrap-builder-foreign": {"bootstrap:role": "builder", "bootstrap:expires": str(now - 10)},
    }
    for name, tags in machines.items():
        (output / ".work" / name).mkdir(parents=True)
        (output / ".work" / name / "tags.json").write_text(json.dumps(tags))
    backend = LocalBackend(output, progress=lambda line: None)
    warnings: list[str] = []
    assert backend.reap(now, dry_run=True, warn=warnings.append) == ["bootstrap-builder-old"]
    assert len(list((output / ".work").iterdir())) == 4
    assert backend.reap(now, warn=warnings.append) == ["bootstrap-builder-old"]
    assert sorted(p.name for p in (output / ".work").iterdir()) == sorted(set(machines) - {"bootstrap-builder-old"})
    assert warnings and all("bootstrap-test-odd" in w for w in warnings)


def test_only_a_promoted_image_counts_as_built(tmp_path: Path) -> None:
    import json

    from bootstrap.bake.backend import Identity

    output = tmp_path / "images"
    output.mkdir()
    identity = Identity("p", "0123", "base-1")
    (output / "img-1.qcow2").write_bytes(b"")
    manifest = {"format": "bootstrap-local-image", "name": "img-1", "disk": "img-1.qcow2", "created": 1,
                "tags": {**identity.tags(), "bootstrap:role": "image"}}  # fmt: skip
    (output / "img-1.json").write_text(json.dumps(manifest))
    backend = LocalBackend(output, progress=lambda line: None)
    assert backend.find_image(identity) is None  # a bake killed before its test: a leftover
    backend.promote(backend.list_images("p")[0], identity)
    assert backend.find_image(identity).id == "img-1"  # type: ignore[union-attr]


@pytest.mark.parametrize("command", ["bake", "rebuild"])
def test_a_dry_run_builds_nothing_even_without_a_base_image_or_qemu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """It used to build the Debian base image first (minutes; an error without QEMU)."""
    import time

    from bootstrap.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))  # no qemu, no mmdebstrap
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "base.yaml").write_text("name: base\npackages: [jq]\n")
    reference = str(folder / "base.yaml") if command == "bake" else str(folder)
    started = time.monotonic()
    assert main([command, reference, "--dry-run", "--local-apt"]) == 0
    assert time.monotonic() - started < 30
    out = capsys.readouterr()
    assert "not built yet" in out.err + out.out
    made = [p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file() and "profiles" not in p.parts]
    assert [p for p in made if "jinja" not in str(p)] == []  # only the template bytecode cache


def test_two_runs_moving_one_channel_never_remove_each_others_link(tmp_path: Path) -> None:
    """Another run (the same profile baked twice at once) has made its new link and is about to rename
    it over latest: moving latest here leaves its link alone, or its rename fails, its promotion with it,
    and its clean-up deletes the image latest may name by then."""
    import json
    import os

    output = tmp_path / "images"
    output.mkdir()
    for name in ("img-1", "img-2"):
        (output / f"{name}.qcow2").write_bytes(b"")
        (output / f"{name}.json").write_text(json.dumps({"format": "bootstrap-local-image", "name": name,
                                                         "created": 1, "tags": {}}))  # fmt: skip
    backend = LocalBackend(output, progress=lambda line: None)
    others = [output / ".p-latest.qcow2.new", output / ".p-latest.json.new"]  # the other run's, by its old name
    for link in others:
        link.symlink_to("img-2." + link.name.split(".")[2])
    backend.point_channel(backend._image(json.loads((output / "img-1.json").read_text())), "p", "latest")
    assert os.readlink(output / "p-latest.qcow2") == "img-1.qcow2"
    assert all(link.is_symlink() for link in others), "the other run's link was removed under it"


def test_prune_keeps_the_image_a_channel_s_link_still_names(tmp_path: Path) -> None:
    """A channel move cut after the manifest's tag and before its link: the link (what a launch boots)
    still names the old image, and prune keeps it though the tags say the new one holds the channel."""
    import json
    import os

    from bootstrap.bake.backend import CHANNEL_PREFIX, OWNER, TAG_OWNER, TAG_PROFILE
    from bootstrap.bake.events import Quiet
    from bootstrap.bake.pruning import prune

    output = tmp_path / "images"
    output.mkdir()
    for created, name in enumerate(("img-1", "img-2"), start=1):
        (output / f"{name}.qcow2").write_bytes(b"")
        tags = {TAG_PROFILE: "p", TAG_OWNER: OWNER, f"{CHANNEL_PREFIX}stable": str(created)}  # img-2's is newer
        (output / f"{name}.json").write_text(json.dumps({"format": "bootstrap-local-image", "name": name,
                                                         "created": created, "tags": tags}))  # fmt: skip
    for suffix in ("qcow2", "json"):
        os.symlink(f"img-1.{suffix}", output / f"p-stable.{suffix}")
    backend = LocalBackend(output, progress=lambda line: None)
    assert backend.channel_pointers("p", {""}) == {"img-1": ["stable"]}
    assert prune(backend, "p", 0, set(), Quiet(), grace_days=0) == []  # img-1 by its link, img-2 by its tag
    assert (output / "img-1.qcow2").exists()


def test_a_channel_never_moves_another_profile_s_link_of_the_same_name(tmp_path: Path) -> None:
    """p's channel other-stable and p-other's channel stable are both p-other-stable.qcow2."""
    import json

    from bootstrap.bake.backend import OWNER, TAG_OWNER, TAG_PROFILE
    from bootstrap.errors import BackendError

    output = tmp_path / "images"
    output.mkdir()
    for name, profile in (("img-p", "p"), ("img-other", "p-other")):
        (output / f"{name}.qcow2").write_bytes(b"")
        (output / f"{name}.json").write_text(json.dumps({"format": "bootstrap-local-image", "name": name,
                                                         "created": 1, "tags": {TAG_PROFILE: profile,
                                                                                TAG_OWNER: OWNER}}))  # fmt: skip
    backend = LocalBackend(output, progress=lambda line: None)
    [other] = backend.list_images("p-other")
    backend.point_channel(other, "p-other", "stable")
    [mine] = backend.list_images("p")
    with pytest.raises(BackendError, match="is profile p-other's link, not p's channel other-stable"):
        backend.point_channel(mine, "p", "other-stable")
    assert (output / "p-other-stable.qcow2").resolve().name == "img-other.qcow2"
