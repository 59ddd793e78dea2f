"""The layer cache (#25) without a VM: the lifecycle against a fake that keeps layers as a cloud would,
and the local backend's store of qcow2 layers (real qemu-img, no QEMU boot). The VM tier proves a
layered bake equal to one from scratch (test_vm.py::test_a_bake_from_cached_layers_equals_one_from_scratch)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from bootstrap.bake.backend import (
    OWNER,
    ROLE_LAYER,
    TAG_LAYER_BORN,
    TAG_LAYER_KEY,
    TAG_OWNER,
    TAG_PROFILE,
    TAG_ROLE,
    BackendError,
    Capability,
    Image,
    Instance,
)
from bootstrap.bake.events import Quiet
from bootstrap.bake.lifecycle import BakeOptions, bake
from bootstrap.bake.pruning import prune_layers
from bootstrap.clouds.local.layers import BaseDisk, LayerStore
from bootstrap.layers import image_layers
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile

from .fake_backend import FakeBackend

DAY = 86400


class LayeredFake(FakeBackend):
    """A fake that keeps layers: its builder prints a layer point after each layer it builds (those above
    the layer it was launched from), as the runner does; make_layer keeps an image with the tags given."""

    capabilities = FakeBackend.capabilities | {Capability.LAYERS}

    def __init__(self, plan, **kwargs):
        super().__init__(plan, **kwargs)
        self.layers: dict[str, Image] = {}
        self.launched: list[str] = []  # the source or layer each builder started from
        self.total = len(image_layers(plan, "src-1").layers)

    def launch(self, role, source, user_data, tags):
        instance = super().launch(role, source, user_data, tags)
        if role == "builder":
            self.launched.append(source)
            below = self.layers.get(source)
            instance.handle = int(below.details["tags"]["bootstrap:layer-index"]) if below else 0
        return instance

    def console(self, instance: Instance) -> str:
        text = super().console(instance)
        if instance.role != "builder" or self.behaviour["builder"] != "ok":
            return text
        points = "".join(f"BOOTSTRAP-LAYER {i}\n" for i in range(instance.handle + 1, self.total + 1))
        return points + text

    def find_layer(self, key, born_after):
        self._call("find_layer")
        found = [la for la in self.layers.values() if la.details["tags"][TAG_LAYER_KEY] == key
                 and float(la.details["tags"][TAG_LAYER_BORN]) > born_after]  # fmt: skip
        return max(found, key=lambda la: la.created, default=None)

    def make_layer(self, instance, tags):
        self._call("make_layer")
        layer = Image(f"layer-{len(self.layers) + 1}", "", "", float(next(self._clock)), {"tags": dict(tags)})
        self.layers[layer.id] = layer
        return layer

    def list_layers(self):
        return list(self.layers.values())

    def delete_image(self, image):
        super().delete_image(image)
        self.layers.pop(image.id, None)


PROFILE = "base"


def _plan(motd: str = "", timezone: str = ""):
    overrides = [f"files.0.content={motd}"] if motd else []
    overrides += [f"timezone={timezone}"] if timezone else []
    return build_plan(load_profile(PROFILE, overrides))


def _bake(backend, plan, **options):
    events = Quiet()
    result = bake(plan, backend, BakeOptions(**options), events)
    said = [e["message"] for e in events.history if e["event"] == "layers"]
    return result, said


def test_a_first_bake_keeps_every_layer_and_a_change_to_the_last_step_reuses_the_rest() -> None:
    backend = LayeredFake(_plan())
    first, said = _bake(backend, _plan())
    assert said == ["base: no cached layer; building 3 layers (timezone, packages, file-etc-motd)"]
    assert first.layers == {"total": 3, "reused": 0, "from": None, "made": ["layer-1", "layer-2", "layer-3"]}
    tags = backend.layers["layer-2"].details["tags"]
    assert tags[TAG_ROLE] == ROLE_LAYER and tags[TAG_OWNER] == OWNER and tags[TAG_PROFILE] == "base"
    assert tags[TAG_LAYER_KEY] == image_layers(_plan(), "src-1").layers[1].key

    changed = _plan(motd="changed\n")
    backend.plan = changed
    second, said = _bake(backend, changed)
    assert said == ["base: reused layers 1-2 of 3 (timezone, packages), rebuilding from file-etc-motd"]
    assert backend.launched[-1] == "layer-2" and second.layers["made"] == ["layer-4"]
    assert second.summary()["layers"]["reused"] == 2


def test_a_change_to_the_first_step_reuses_nothing_and_refresh_ignores_the_cache() -> None:
    backend = LayeredFake(_plan())
    _bake(backend, _plan())
    changed = _plan(timezone="Europe/Paris")
    result, said = _bake(backend, changed)
    assert result.layers["reused"] == 0 and backend.launched[-1] == "src-1"
    refreshed, said = _bake(backend, _plan(), refresh=True, force=True)
    assert said == ["base: --refresh: the cache ignored; building 3 layers (timezone, packages, file-etc-motd)"]
    assert refreshed.layers["reused"] == 0 and backend.launched[-1] == "src-1" and len(refreshed.layers["made"]) == 3


def test_a_layer_older_than_max_age_is_not_reused_and_its_age_counts_from_the_oldest_below() -> None:
    backend = LayeredFake(_plan())
    _bake(backend, _plan())
    for layer in backend.layers.values():  # made 40 days ago
        layer.details["tags"][TAG_LAYER_BORN] = str(int(time.time() - 40 * DAY))
    result, _ = _bake(backend, _plan(motd="changed\n"))
    assert result.layers["reused"] == 0  # default --max-age 30
    result, _ = _bake(backend, _plan(motd="again\n"), max_age_days=60)
    assert result.layers["reused"] == 2
    born = {la.details["tags"][TAG_LAYER_BORN] for la in backend.layers.values() if la.id in result.layers["made"]}
    assert born == {backend.layers[result.layers["from"]].details["tags"][TAG_LAYER_BORN]}  # inherited, not now


def test_a_failed_step_keeps_the_layers_below_it_for_the_next_bake() -> None:
    plan = _plan()
    backend = LayeredFake(plan)

    def fail_in_layer_three(instance):
        text = FakeBackend.console(backend, instance)
        if instance.role != "builder":
            return text
        return "BOOTSTRAP-LAYER 1\nBOOTSTRAP-LAYER 2\nBOOTSTRAP-RESULT failed file-etc-motd\n"

    backend.console = fail_in_layer_three  # type: ignore[method-assign]
    with pytest.raises(BackendError, match="file-etc-motd"):
        _bake(backend, plan)
    assert sorted(backend.layers) == ["layer-1", "layer-2"]
    del backend.console
    result, _ = _bake(backend, plan)
    assert result.layers["reused"] == 2 and backend.launched[-1] == "layer-2"


def test_a_layer_whose_making_failed_fails_the_bake_and_is_never_used() -> None:
    plan = _plan()
    backend = LayeredFake(plan)
    backend.faults["make_layer"] = BackendError("snapshot failed")
    with pytest.raises(BackendError, match="snapshot failed"):
        _bake(backend, plan)
    assert backend.layers == {} and backend.instances == {}  # the builder deleted, no layer kept
    del backend.faults["make_layer"]
    result, _ = _bake(backend, plan)
    assert result.layers["reused"] == 0


def test_a_layer_point_out_of_order_is_refused() -> None:
    plan = _plan()
    backend = LayeredFake(plan)
    backend.console = lambda instance: "BOOTSTRAP-LAYER 2\nBOOTSTRAP-RESULT sealed -\n"  # type: ignore[method-assign]
    with pytest.raises(BackendError, match="layer point 2, but layer 1 of 3 was next"):
        _bake(backend, plan)
    assert backend.layers == {}


def test_a_dry_run_says_what_it_would_reuse_and_makes_nothing() -> None:
    backend = LayeredFake(_plan())
    _bake(backend, _plan())
    result, said = _bake(backend, _plan(motd="changed\n"), dry_run=True)
    assert said == ["base: reused layers 1-2 of 3 (timezone, packages), rebuilding from file-etc-motd"]
    assert len(backend.layers) == 3 and result.status == "planned"


def test_prune_deletes_the_profiles_unneeded_and_expired_layers_only() -> None:
    backend = LayeredFake(_plan())
    now = time.time()

    def layer(layer_id, key, profile="base", made=now, born=now):
        backend.layers[layer_id] = Image(layer_id, "", "", made, {"tags": {
            TAG_OWNER: OWNER, TAG_ROLE: ROLE_LAYER, TAG_PROFILE: profile, TAG_LAYER_KEY: key,
            TAG_LAYER_BORN: str(int(born)), "bootstrap:created": str(int(made))}})  # fmt: skip

    layer("needed", "k1", made=now - 10 * DAY, born=now - 10 * DAY)
    layer("fresh-unneeded", "k9", made=now - 3600)  # within the day's minimum grace: another bake may use it
    layer("old-unneeded", "k8", made=now - 8 * DAY, born=now - 8 * DAY)
    layer("expired", "k1", made=now - 31 * DAY, born=now - 31 * DAY)
    layer("others", "k7", profile="other", made=now - 90 * DAY, born=now - 90 * DAY)
    deleted = prune_layers(backend, "base", {"k1"}, Quiet(), grace_days=7, max_age_days=30, now=now)
    assert sorted(deleted) == ["expired", "old-unneeded"]
    assert sorted(backend.layers) == ["fresh-unneeded", "needed", "others"]
    assert prune_layers(backend, "base", {"k1"}, Quiet(), grace_days=0, max_age_days=30, now=now) == []


def test_a_new_source_image_invalidates_every_layer() -> None:
    plan = _plan()
    old, new = image_layers(plan, "src-1"), image_layers(plan, "src-2")
    assert not {la.key for la in old.layers} & {la.key for la in new.layers}


def test_max_age_out_of_range_is_refused(capsys) -> None:
    from bootstrap.cli import main

    for value in ("0", "-1", "nan"):
        assert main(["bake", "base", "--dry-run", "--max-age", value]) == 2
        assert "--max-age: days a layer may be reused" in capsys.readouterr().err


# -- the local backend's store (qcow2 chains, real qemu-img) -----------------------------------------
needs_qemu_img = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img")


def _qcow2(path: Path, backing: Path | None = None) -> Path:
    command = ["qemu-img", "create", "-q", "-f", "qcow2"]
    command += ["-b", str(backing), "-F", "qcow2", str(path)] if backing else [str(path), "16M"]
    subprocess.run(command, check=True)
    return path


def _tags(key: str, born: float | None = None) -> dict[str, str]:
    return {TAG_OWNER: OWNER, TAG_ROLE: ROLE_LAYER, TAG_PROFILE: "p", TAG_LAYER_KEY: key,
            TAG_LAYER_BORN: str(int(born if born is not None else time.time()))}  # fmt: skip


@pytest.fixture
def store(tmp_path) -> tuple[LayerStore, BaseDisk]:
    base = _qcow2(tmp_path / "base.qcow2")
    return LayerStore(tmp_path / "layers"), BaseDisk.of(base)


@needs_qemu_img
def test_the_store_finds_a_whole_chain_only(store) -> None:
    layers, base = store
    one = _qcow2(layers.new_disk(), base.path)
    first = layers.record(one, _tags("k1"), "debian12-x", base)
    two = _qcow2(layers.new_disk(), one)
    second = layers.record(two, _tags("k2"), first.id, base)
    assert layers.usable("k2", 0, base).id == second.id
    assert layers.usable("k2", time.time() + 10, base) is None  # born before the cut-off
    layers.delete(first.id)  # the layer below gone: the one above is refused
    assert layers.usable("k2", 0, base) is None


@needs_qemu_img
def test_the_store_refuses_a_chain_over_a_rebuilt_base_image(store, tmp_path) -> None:
    layers, base = store
    one = _qcow2(layers.new_disk(), base.path)
    layers.record(one, _tags("k1"), "debian12-x", base)
    time.sleep(0.01)
    _qcow2(base.path)  # rebuilt under the same name: every overlay on it would read another disk
    assert layers.usable("k1", 0, BaseDisk.of(base.path)) is None


@needs_qemu_img
def test_a_disk_without_its_record_is_never_used_and_is_swept_a_day_later(store) -> None:
    layers, base = store
    orphan = _qcow2(layers.new_disk(), base.path)  # a builder killed before its record was written
    assert layers.layers() == [] and layers.usable("k1", 0, base) is None
    assert layers.sweep(time.time()) == []  # a running bake's disk, perhaps
    old = time.time() - 2 * DAY
    os.utime(orphan, (old, old))
    assert layers.sweep(time.time()) == [orphan.stem] and not orphan.exists()


@needs_qemu_img
def test_planted_layer_records_are_nobodys(store) -> None:
    """A checkout's images/.layers/ may hold anything: a record that is a link, names another file, lacks
    the owner tag or has odd values is never used (nor deleted by prune, which lists none of them)."""
    layers, base = store
    good = _qcow2(layers.new_disk(), base.path)
    layers.record(good, _tags("k1"), "debian12-x", base)
    record = json.loads(good.with_suffix(".json").read_text())
    planted = [
        ({**record, "id": "L-" + "0" * 32}, "L-" + "1" * 32),  # names another file
        ({**record, "tags": {**record["tags"], TAG_OWNER: "someone"}}, "L-" + "2" * 32),
        ({**record, "created": "yesterday"}, "L-" + "3" * 32),
        ({**record, "below": ["L-x"]}, "L-" + "4" * 32),
    ]
    for data, name in planted:
        if data.get("id") != "L-" + "0" * 32:
            data = {**data, "id": name}
        _qcow2(layers.folder / f"{name}.qcow2", base.path)
        (layers.folder / f"{name}.json").write_text(json.dumps(data))
    link = "L-" + "5" * 32
    _qcow2(layers.folder / f"{link}.qcow2", base.path)
    (layers.folder / f"{link}.json").symlink_to(good.with_suffix(".json"))
    assert [la.id for la in layers.layers()] == [good.stem]


def test_a_layer_id_that_is_a_path_is_refused(tmp_path) -> None:
    with pytest.raises(BackendError, match="not a local layer's id"):
        LayerStore(tmp_path).delete("../images/x")


@needs_qemu_img
def test_a_layer_whose_backing_file_is_not_the_one_below_is_refused(store, tmp_path) -> None:
    """QEMU reads what the qcow2 names, not what the record says: a disk rebased onto a host file
    (here another disk; it could be any file the user can read) is never booted."""
    layers, base = store
    one = _qcow2(layers.new_disk(), base.path)
    first = layers.record(one, _tags("k1"), "debian12-x", base)
    two = _qcow2(layers.new_disk(), one)
    layers.record(two, _tags("k2"), first.id, base)
    assert layers.usable("k2", 0, base) is not None
    elsewhere = _qcow2(tmp_path / "elsewhere.qcow2")
    subprocess.run(["qemu-img", "rebase", "-u", "-f", "qcow2", "-b", str(elsewhere), "-F", "qcow2", str(two)],
                   check=True)  # fmt: skip
    assert layers.usable("k2", 0, base) is None


@needs_qemu_img
def test_sigterm_at_a_layer_point_leaves_a_whole_layer_or_none(tmp_path, monkeypatch) -> None:
    """The local backend's make_layer under SIGTERM (the signal arrives between the snapshot and the
    record): the signal waits until the layer is recorded, then stops the bake; the guest is never told
    to go on from a disk that is not a layer. Without the shield the frozen disk had no record."""
    import signal

    from bootstrap import interrupts
    from bootstrap.clouds.local import backend as local

    base = _qcow2(tmp_path / "base.qcow2")
    told: list[str] = []

    class FrozenMachine:  # what make_layer asks of a machine: the snapshot is real qemu-img
        def __init__(self, disk: Path):
            self.disk = disk

        def snapshot_disk(self, top: Path) -> Path:
            _qcow2(top, self.disk)
            os.kill(os.getpid(), signal.SIGTERM)  # mid-way: the frozen disk has no record yet
            frozen, self.disk = self.disk, top
            return frozen

        def tell_guest(self, line: str) -> None:
            told.append(line)

    backend = local.LocalBackend(tmp_path / "images", progress=lambda line: None, layer_cache=tmp_path / "layers")
    monkeypatch.setattr(backend, "_base", lambda: local.GoldenImage(base, base, base))
    disk = _qcow2(backend.layers.new_disk(), base)
    backend._below["i-1"] = "debian12-x"
    with pytest.raises(interrupts.Interrupted), interrupts.handle_signals():
        backend.make_layer(Instance("i-1", "builder", handle=FrozenMachine(disk)), _tags("k1"))
    assert [la.id for la in backend.list_layers()] == [disk.stem]  # the layer whole, its record written
    assert told == []  # stopped before the guest went on: the bake's clean-up deletes the builder


def test_a_layer_cache_folder_someone_else_can_write_is_refused(tmp_path: Path) -> None:
    """--layer-cache DIR boots what it holds as a builder's disk: a folder others can write (a shared
    /tmp/layers another user made first) is refused, as the private cache would be; a new one is 0700."""
    from bootstrap.clouds.local import backend as local

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(BackendError, match="only you can write"):
        local.LocalBackend(tmp_path / "images", progress=lambda line: None, layer_cache=shared)
    fresh = local.LocalBackend(tmp_path / "images", progress=lambda line: None, layer_cache=tmp_path / "new")
    assert fresh.layers.folder.stat().st_mode & 0o777 == 0o700


def test_a_snapshot_into_a_cache_path_with_a_space_or_line_break_is_one_monitor_argument(tmp_path: Path) -> None:
    """The monitor splits a command's arguments at blanks and ends it at a line break: a layer cache
    under a HOME (or --layer-cache) with a space failed every layer point; one with a line break in
    it would have sent the rest of the path as a monitor command of its own."""
    from bootstrap.localvm import machine as qemu

    sent: list[str] = []
    top = tmp_path / "my layers\nquit \"x\"\\" / "L-top.qcow2"
    top.parent.mkdir()

    def monitor(command: str, timeout: float = 5) -> str:
        sent.append(command)
        top.write_bytes(b"")
        return ""

    fake = qemu.Machine.__new__(qemu.Machine)
    fake.disk = tmp_path / "disk.qcow2"
    fake._monitor = monitor  # type: ignore[method-assign]
    assert fake.snapshot_disk(top) == tmp_path / "disk.qcow2"
    (command,) = sent
    assert "\n" not in command and "\r" not in command
    assert command == 'snapshot_blkdev root "' + str(top.parent).replace("\\", "\\\\").replace('"', '\\"').replace(
        "\n", "\\n") + '/L-top.qcow2" qcow2'


def test_a_builder_over_a_layer_holds_the_base_image_it_reads_through_the_chain(tmp_path: Path) -> None:
    """A layer's disk reads the base image through its backing chain: a machine booting it must hold
    the base image's lock shared (Machine takes ``lock``), or a base rebuilt meanwhile (its folder
    removed, then another bake) gets the builder's next layers recorded over the new base while they
    hold changes to the old one; later bakes would find them whole."""
    from bootstrap.clouds.local import backend as local
    from bootstrap.localvm.image import base_image

    backend = local.LocalBackend(tmp_path / "images", progress=lambda line: None, layer_cache=tmp_path / "layers")
    layer = backend.boot_image("L-" + "0" * 32)
    assert getattr(layer, "lock", None) == base_image().lock


def test_the_local_backend_hears_layer_points_on_its_port_only(tmp_path) -> None:
    """A console line BOOTSTRAP-LAYER N (a step, a daemon, a kernel message cutting it) makes no layer:
    the runner says its points on the port it holds open; a point said again whose layer is kept is
    answered again (the runner repeats it until its word comes); other words are ignored."""
    from bootstrap.clouds.local import backend as local

    class PortMachine:
        def __init__(self) -> None:
            self.heard: list[str] = []
            self.told: list[str] = []

        def hear_guest(self) -> list[str]:
            heard, self.heard = self.heard, []
            return heard

        def tell_guest(self, line: str) -> None:
            self.told.append(line)

    backend = local.LocalBackend(tmp_path / "images", progress=lambda line: None, layer_cache=tmp_path / "layers")
    machine = PortMachine()
    builder = Instance("i-1", "builder", handle=machine)
    assert backend.layer_points(builder, "BOOTSTRAP-LAYER 1\n") == []  # the console is not the channel
    machine.heard = ["point 1", "point 1", "layer 7", "point x"]
    assert backend.layer_points(builder, "") == [1]
    backend._points["i-1"] = {1: "L-" + "a" * 32}  # what make_layer records
    machine.heard = ["point 1"]
    assert backend.layer_points(builder, "") == [] and machine.told == [f"layer 1 recorded as L-{'a' * 32}"]


@needs_qemu_img
def test_a_layer_a_machine_reads_is_kept_by_prune_until_it_is_released(store) -> None:
    """Another profile's bake (or a test) may be building over a layer this profile's prune finds old:
    deleting it would break that bake's image at its last step. The reader's lock keeps it."""
    from bootstrap.bake.backend import LayerInUse

    layers, base = store
    one = _qcow2(layers.new_disk(), base.path)
    first = layers.record(one, _tags("k1"), "debian12-x", base)
    two = _qcow2(layers.new_disk(), one)
    second = layers.record(two, _tags("k2"), first.id, base)
    held = layers.hold(second.id)  # a machine over layer 2 reads layer 1 too
    assert len(held) == 2
    with pytest.raises(LayerInUse):
        layers.delete(first.id)
    assert layers.usable("k2", 0, base) is not None
    for lock in held:
        lock.release()
    layers.delete(first.id)
    assert layers.usable("k2", 0, base) is None and not one.exists()


def test_a_test_from_a_layer_counts_each_baked_step_once_per_instance() -> None:
    """The benchmark's failure: a reboot finds the layer's steps baked again (no instance marker is
    written for a baked step), which the judge counted as a second run."""
    from bootstrap.console import GuestReport
    from bootstrap.judge import judge_boots

    plan = _plan()

    def boot(*statuses: str) -> GuestReport:
        steps = [{"id": i, "phase": "first_boot", "status": st, "duration_ms": 1}
                 for i, st in zip(("timezone", "packages", "file-etc-motd"), statuses, strict=True)]  # fmt: skip
        return GuestReport("ok", None, steps, "")

    boots = [boot("baked", "baked", "ok"), boot("baked", "baked", "done-earlier"), boot("baked", "baked", "ok")]
    layer = frozenset({"timezone", "packages"})
    assert judge_boots(plan, boots, ["i-1", "i-1", "i-2"], layer) == []
    assert judge_boots(plan, boots, ["i-1", "i-1", "i-2"]) != []  # without the layer: they never ran


def test_no_test_writes_this_users_layer_cache(tmp_path) -> None:
    """The suite's own layers stay out of ~/.cache/bootstrap/layers (conftest's own_layer_cache): a base
    bake's layers left there made a later `bootstrap test base` boot the baked layer, whose first boot then
    ran no step, and failed CI's through-each-client test."""
    from bootstrap import paths
    from bootstrap.clouds.local import backend as local

    backend = local.LocalBackend(tmp_path / "images", progress=lambda line: None)
    assert backend.layers.folder != paths.cache_dir("layers")
    assert backend.layers.folder == local.LocalBackend(tmp_path / "other", progress=print).layers.folder
