"""Layers of a golden image (bootstrap/layers.py, issue #25): grouping, the key chain, what a change
invalidates, keys stable across runs and machines, and what explain and diff say of them."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bootstrap.cli import main
from bootstrap.layers import groups, image_layers, image_steps, layer_change
from bootstrap.plan import Phase, Plan, Scope, Step
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile

from .test_extending import copy_of_the_package

FIRST, EVERY, IMAGE, INSTANCE = Phase.FIRST_BOOT, Phase.EVERY_BOOT, Scope.IMAGE, Scope.INSTANCE


def step(id: str, cost: str = "fast", phase: Phase = FIRST, scope: Scope = IMAGE, script: str = "") -> Step:
    return Step(id, phase, scope, "test", script or f"echo {id}\n", cost=cost)


def plan(*steps: Step) -> Plan:
    return Plan("p", list(steps))


def with_script(p: Plan, step_id: str, script: str) -> Plan:
    return Plan(p.profile, [dataclasses.replace(s, script=script) if s.id == step_id else s for s in p.steps])


GPU = plan(step("timezone"), step("packages", "network"), step("mounts", phase=EVERY, scope=INSTANCE),
           step("nvidia", "heavy"), step("users"), step("secrets", "network", scope=INSTANCE),
           step("file-a"), step("file-b"), step("conda", "heavy"), step("file-motd"))  # fmt: skip


def test_heavy_and_network_steps_are_layers_of_their_own_and_fast_runs_share_one() -> None:
    chain = image_layers(GPU, "ami-1")
    expected = [("timezone",), ("packages",), ("nvidia",), ("users", "file-a", "file-b"), ("conda",), ("file-motd",)]
    assert [layer.steps for layer in chain.layers] == expected
    assert [layer.index for layer in chain.layers] == [1, 2, 3, 4, 5, 6]
    assert [layer.cost for layer in chain.layers] == ["fast", "network", "heavy", "fast", "heavy", "fast"]
    # an instance-scope step between two fast image steps is not baked: they are one layer
    assert chain.layers[3].name == "users+file-a+file-b"
    assert [[s.id for s in g] for g in groups([step("a"), step("b"), step("c"), step("d")])] == [["a", "b", "c", "d"]]
    many = image_layers(plan(*(step(f"f{i}") for i in range(5))), "s").layers
    assert len(many) == 1 and many[0].name == "f0..f4 (5 steps)"


def test_no_image_scope_steps_no_layers() -> None:
    bare = plan(step("mounts", phase=EVERY, scope=INSTANCE), step("secrets", scope=INSTANCE))
    assert image_steps(bare) == [] and image_layers(bare, "ami-1").layers == ()
    assert layer_change(image_layers(GPU, "ami-1"), image_layers(bare, "ami-1")).reason == \
        "no image-scope steps: no layers"  # fmt: skip


@pytest.mark.parametrize("k", range(6))
def test_a_changed_step_changes_its_layer_and_those_above_only(k: int) -> None:
    before = image_layers(GPU, "ami-1")
    changed_id = before.layers[k].steps[-1]
    after = image_layers(with_script(GPU, changed_id, "echo changed\n"), "ami-1")
    assert [a.key == b.key for a, b in zip(before.layers, after.layers, strict=True)] == [True] * k + [False] * (6 - k)
    change = layer_change(before, after)
    assert (change.first, change.reused, change.total) == (k + 1, k, 6)
    assert change.reason == f"layer {k + 1} of 6 ({after.layers[k].name}) changed: step {changed_id}'s script"


def test_a_new_source_image_changes_every_key() -> None:
    old, new = image_layers(GPU, "ami-1"), image_layers(GPU, "ami-2")
    assert all(a.key != b.key for a, b in zip(old.layers, new.layers, strict=True))
    assert layer_change(old, new).reason == "the source image changed: every layer"
    assert layer_change(old, new).first == 1


@pytest.mark.parametrize("step_id", ["mounts", "secrets"])  # every-boot; first-boot, instance scope
def test_a_change_outside_the_image_changes_no_key(step_id: str) -> None:
    old, new = image_layers(GPU, "ami-1"), image_layers(with_script(GPU, step_id, "echo other\n"), "ami-1")
    assert old == new
    assert layer_change(old, new).reason == "nothing image-scope changed: every layer reused"


def test_what_a_step_does_not_run_changes_no_key() -> None:
    """Its description (a comment in its file) and its cost class: not what the machine runs."""
    relabelled = Plan("p", [dataclasses.replace(s, description="other words") for s in GPU.steps])
    assert image_layers(relabelled, "s") == image_layers(GPU, "s")


def test_the_backends_inputs_count_in_any_order() -> None:
    one = image_layers(GPU, "s", {"apt-repository": "sha256:1", "machine": "q35"})
    assert one == image_layers(GPU, "s", {"machine": "q35", "apt-repository": "sha256:1"})
    other = image_layers(GPU, "s", {"apt-repository": "sha256:2", "machine": "q35"})
    assert all(a.key != b.key for a, b in zip(one.layers, other.layers, strict=True))
    assert layer_change(one, other).reason == "the backend's inputs changed (apt-repository): every layer"


def test_added_moved_removed_and_reordered_steps_are_said() -> None:
    base = image_layers(GPU, "s")
    added = Plan("p", [*GPU.steps, step("file-new")])
    assert layer_change(base, image_layers(added, "s")).reason == \
        "layer 6 of 6 (file-motd+file-new) changed: step file-new added"  # fmt: skip
    tail = Plan("p", [*GPU.steps, step("big", "heavy")])
    assert layer_change(base, image_layers(tail, "s")).reason == "layer 7 of 7 (big) changed: step big added"
    dropped = Plan("p", [s for s in GPU.steps if s.id != "file-motd"])
    assert layer_change(base, image_layers(dropped, "s")).reason == \
        "every layer reused; the old image's layer 6 (file-motd) is not in the new one"  # fmt: skip
    swapped = Plan("p", [*(s for s in GPU.steps if s.id != "file-a"), step("file-a")])
    reason = layer_change(base, image_layers(swapped, "s")).reason
    assert reason == "layer 4 of 6 (users+file-b) changed: step file-a moved", reason
    order = Plan("p", [s for s in GPU.steps if s.id != "file-a"])
    order.steps.insert(next(i for i, s in enumerate(order.steps) if s.id == "file-b") + 1, step("file-a"))
    assert layer_change(base, image_layers(order, "s")).reason == \
        "layer 4 of 6 (users+file-b+file-a) changed: the order of its steps"  # fmt: skip


def _naive(steps: list[Step]) -> str:
    """The hashing a key must not be: fields joined with a separator that a script may contain."""
    return hashlib.sha256(b"\0".join(f"{s.id}\0{s.phase.value}\0{s.scope.value}\0{s.script}".encode()
                                     for s in steps)).hexdigest()  # fmt: skip


@pytest.mark.parametrize("separator", ["\0", "\n"])
def test_a_hostile_script_cannot_make_two_step_lists_meet(separator: str) -> None:
    """One fast step whose script spells out the fields of a second one, with NULs or newlines where
    the fields meet: a separator-joined hash gives both the same bytes; the length-prefixed key not."""
    two = [step("a", script="x"), step("b", script="y")]
    joined = separator.join(["x", "b", "first_boot", "image", "y"])
    one = [step("a", script=joined)]
    if separator == "\0":
        assert _naive(two) == _naive(one)  # the attack works on the naive scheme
    assert image_layers(plan(*two), "s").layers[0].key != image_layers(plan(*one), "s").layers[0].key
    # nor can a step's id swallow the start of its script
    assert image_layers(plan(step("ab", script="c")), "s").layers[0].key != \
        image_layers(plan(step("a", script="bc")), "s").layers[0].key  # fmt: skip


def _profile(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "motd").write_text("hello\nworld\n")
    (folder / "p.yaml").write_text("name: p\nextends: [base]\nusers: [{name: alice}]\n"
                                   "files: [{path: /etc/motd2, source: motd}]\n")  # fmt: skip
    return folder / "p.yaml"


def test_keys_are_the_same_in_another_process_folder_and_hash_seed(tmp_path: Path) -> None:
    here = image_layers(build_plan(load_profile(str(_profile(tmp_path / "here")))), "ami-1").to_json()
    elsewhere = _profile(tmp_path / "elsewhere" / "deeper")
    copy = copy_of_the_package(tmp_path / "pkg")
    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONHASHSEED": "12345", "XDG_CACHE_HOME": str(tmp_path / "c")}
    proc = subprocess.run([sys.executable, "-m", "bootstrap", "explain", "--json", "--source", "ami-1", str(elsewhere)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    assert json.loads(proc.stdout)["layers"] == here
    assert [len(layer["key"]) for layer in here["layers"]] == [64] * len(here["layers"])
    # The step library is part of what every step does: a line more in it, and no layer is reused.
    library = copy / "templates" / "distro" / "apt" / "lib.sh.j2"
    text = library.read_text()
    at = text.rindex("{% endblock %}")  # inside the last block: a child template has nothing outside its blocks
    library.write_text(text[:at] + "BOOTSTRAP_NEW_SETTING=1\n" + text[at:])
    proc = subprocess.run([sys.executable, "-m", "bootstrap", "explain", "--json", "--source", "ami-1", str(elsewhere)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    changed = json.loads(proc.stdout)["layers"]
    assert all(a["key"] != b["key"] for a, b in zip(here["layers"], changed["layers"], strict=True))


def test_explain_shows_the_layers(capsys) -> None:
    assert main(["explain", "gpu-pytorch"]) == 0
    out = capsys.readouterr().out
    assert "layers of a baked image" in out and "keys over no source image (--source ID names one)" in out
    keys = image_layers(build_plan(load_profile("gpu-pytorch")), "")
    for layer in keys.layers:
        assert f"{layer.name}  " in out and layer.key[:12] in out
    assert main(["explain", "gpu-pytorch", "--json", "--source", "ami-0abc"]) == 0
    shown = json.loads(capsys.readouterr().out)["layers"]
    assert shown["source"] == "ami-0abc"
    assert [layer["steps"] for layer in shown["layers"]] == [list(layer.steps) for layer in keys.layers]
    assert shown["layers"][0]["key"] != keys.layers[0].key  # over the source named
    assert main(["explain", "gpu-pytorch", "--source", "ami-0abc"]) == 0
    assert "keys over source ami-0abc" in capsys.readouterr().out


def test_diff_says_the_first_layer_a_change_invalidates(tmp_path: Path, capsys) -> None:
    old = tmp_path / "old.yaml"
    old.write_text("name: p\nextends: [base]\npackages: [htop]\nusers: [{name: alice}]\n")
    new = tmp_path / "new.yaml"
    new.write_text("name: p\nextends: [base]\npackages: [htop]\nusers: [{name: alice, shell: /bin/zsh}]\n")
    assert main(["diff", str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert "  layers: layer 3 of 3 (users+file-etc-motd) changed: step users's script " \
           "(layers 1-2 of 3 unchanged)" in out  # fmt: skip
    assert main(["diff", "--json", str(old), str(new)]) == 1
    layers = json.loads(capsys.readouterr().out)["layers"]
    assert (layers["first_invalidated"], layers["reused"], layers["total"]) == (3, 2, 3)
    assert [layer["name"] for layer in layers["new"]] == ["timezone", "packages", "users+file-etc-motd"]
    assert layers["old"][:2] == layers["new"][:2] and layers["old"][2]["key"] != layers["new"][2]["key"]
    assert main(["diff", str(old), str(old)]) == 0
    assert "layers:" not in capsys.readouterr().out  # nothing to say when no layer changed
