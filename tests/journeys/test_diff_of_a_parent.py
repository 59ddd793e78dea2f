"""`bootstrap diff` of a parent (issue 22.6): a change to a profile others extend lands in each of them,
so diff lists those profiles (by name and path, directly or through another) and what the change does
to each: its steps, its outputs, its bytes against each cloud's limit. A child that the change pushes
over EC2's user-data limit, or whose merge with the new parent no longer validates, is a finding
(exit 1, never a traceback). Each child is read at OLD's and NEW's points, from the same raw objects
as the parent; a profile outside the repository that extends it is never read."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

from .conftest import Run, git

# High-entropy payloads (gzip cannot shrink them): the child's fits EC2's 16,384 bytes gzipped, the
# parent's alone fits too, both together do not.
CHILD_BLOB = base64.b64encode(random.Random(7).randbytes(6000)).decode()
PARENT_BLOB = base64.b64encode(random.Random(8).randbytes(5000)).decode()

PARENT = """\
name: team
packages: [htop]
files:
  - path: /etc/team.conf
    content: "team = ml\\n"
    mode: "0644"
"""
# The parent's change: the team file moves, and the parent ships a payload of its own.
PAYLOAD = f"  - path: /opt/team/payload.dat\n    content: {PARENT_BLOB}\n"
CHANGED_PARENT = PARENT.replace("/etc/team.conf", "/etc/ml.conf") + PAYLOAD
BIG = f"""\
name: big
extends: [team]
files:
  - path: /opt/big/model.dat
    content: {CHILD_BLOB}
"""
# Tightens the parent's file by its path: with the path moved, the item stands alone, without content.
STRICT = """\
name: strict
extends: [team]
files:
  - path: /etc/team.conf
    mode: "0600"
"""
GPU = "name: big-gpu\nextends: [../big.yaml]\nhostname: big-gpu\n"  # through big, from a folder below
ALONE = "name: alone\npackages: [jq]\n"  # extends nothing: not listed


def team_repo(repo: Path) -> Path:
    profiles = repo / "profiles"
    (profiles / "gpu").mkdir(parents=True)
    for name, text in (("team", PARENT), ("big", BIG), ("strict", STRICT), ("gpu/big-gpu", GPU), ("alone", ALONE)):
        (profiles / f"{name}.yaml").write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "team profiles")
    return profiles / "team.yaml"


def test_diff_of_a_parent_lists_each_child_and_flags_the_ones_it_breaks(repo: Path, bootstrap: Run) -> None:
    parent = team_repo(repo)
    parent.write_text(CHANGED_PARENT)

    shown = bootstrap("diff", "HEAD:profiles/team.yaml", "profiles/team.yaml", expect=1).stdout
    # The parent's own account first, as before, with its bytes against each limit: it still fits.
    assert "first_boot  added    file-opt-team-payload.dat" in shown
    ec2 = next(line for line in shown.splitlines() if line.startswith("  ec2 ") and "EC2 user data" in line)
    assert "OVER" not in ec2
    # Then the listing: every profile that extends it, directly or through another; not the others.
    assert "profiles extending profiles/team.yaml: 3 (2 changed, 1 no longer validates; 2 pushed over a size " \
           "limit)" in shown  # fmt: skip
    assert "alone" not in shown
    headings = [line for line in shown.splitlines() if line.startswith("profiles/")]
    assert [h.split(":")[0] for h in headings] == [
        "profiles/big.yaml (big), extends it directly",
        "profiles/gpu/big-gpu.yaml (big-gpu), extends it through profiles/big.yaml",
        "profiles/strict.yaml (strict), extends it directly",
    ]
    assert headings[0].startswith("profiles/big.yaml (big), extends it directly: changed; OVER the ec2 limit (")
    assert "OVER the ec2 limit" in headings[1]
    assert headings[2].endswith("extends it directly: NO LONGER VALIDATES")
    # big: the old version merged with the old parent, the new one with the new parent.
    big = shown.split(headings[0])[1].split(headings[1])[0]
    assert "first_boot  added    file-opt-team-payload.dat" in big
    assert "first_boot  removed  file-etc-team.conf" in big
    # the child's own file is unchanged: no step line names it (the layer it shares with them does)
    assert not [line for line in big.splitlines() if "file-opt-big-model.dat" in line and "layers: " not in line]
    over = next(line for line in big.splitlines() if line.lstrip().startswith("ec2 "))
    assert "16,384 EC2 user data" in over and over.endswith("OVER (error): pushed over by this change")
    # strict: the merge that no longer validates, at the child's own line, not a traceback.
    strict = shown.split(headings[2])[1]
    assert "profiles/strict.yaml:4:" in strict and "give exactly one of 'content' or 'source'" in strict

    # For scripts: the same, as JSON, between two commits (each child read at both revisions).
    git(repo, "commit", "-qam", "the team file moves; a payload")
    (repo / "profiles" / "big.yaml").write_text("name: [broken\n")  # the working tree is not what is compared
    result = bootstrap("diff", "--json", "HEAD~1:profiles/team.yaml", "HEAD:profiles/team.yaml", expect=1)
    report = json.loads(result.stdout)
    assert report["different"] and report["sizes"]["ec2"]["over_after"] is False
    children = {child["path"]: child for child in report["extending"]["dependents"]}
    assert list(children) == ["profiles/big.yaml", "profiles/gpu/big-gpu.yaml", "profiles/strict.yaml"]
    big_json, gpu_json, strict_json = children.values()
    assert (big_json["profile"], big_json["status"], big_json["via"]) == ("big", "changed", [])
    assert gpu_json["via"] == ["profiles/big.yaml"] and gpu_json["status"] == "changed"
    ec2_size = big_json["sizes"]["ec2"]
    assert ec2_size["limit"] == 16_384 and ec2_size["before"] < 16_384 < ec2_size["after"]
    assert (ec2_size["over_before"], ec2_size["over_after"]) == (False, True)
    assert big_json["phases"][0]["added"] == ["file-etc-ml.conf", "file-opt-team-payload.dat"]
    assert strict_json["status"] == "no longer validates" and strict_json["new"]["problems"]
    assert strict_json["new"]["problems"][0].startswith("HEAD:profiles/strict.yaml:4:")  # not a temporary path
    assert strict_json["old"]["plan_hash"]  # it validated against the old parent
    findings = [f["message"] for f in report["findings"]]
    assert [f.split(":")[0] for f in findings] == ["profiles/big.yaml", "profiles/gpu/big-gpu.yaml",
                                                    "profiles/strict.yaml"]  # fmt: skip
    assert "no longer validates" in findings[2]

    # Between one commit and itself: the same family, nothing changed, exit 0.
    same = bootstrap("diff", "HEAD:profiles/team.yaml", "HEAD:profiles/team.yaml", expect=0).stdout
    assert "profiles extending profiles/team.yaml: 3 (2 unchanged, 1 still does not validate)" in same
    # Only the profile named, when asked; and two different files say why their children are not compared.
    alone = bootstrap("diff", "--no-dependents", "HEAD~1:profiles/team.yaml", "HEAD:profiles/team.yaml", expect=1)
    assert "profiles extending" not in alone.stdout
    other = bootstrap("diff", "profiles/alone.yaml", "profiles/team.yaml", expect=1).stdout
    assert "profiles extending profiles/team.yaml: not compared: OLD and NEW are different files" in other


SPY = """\
import os, sys

_log = os.open({log!r}, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
_outside = {outside!r}
_busy = []


def _spy(event, args):
    if _busy or event not in ("open", "os.listdir", "os.scandir", "glob.glob") or not args:
        return
    _busy.append(1)
    try:
        if isinstance(args[0], (str, bytes, os.PathLike)):
            path = os.path.realpath(os.fsdecode(args[0]))
            if path == _outside or path.startswith(_outside + os.sep):
                os.write(_log, f"{{event}} {{path}}\\n".encode())
    finally:
        _busy.pop()


sys.addaudithook(_spy)
"""


def test_a_child_outside_the_repository_is_never_read(repo: Path, tmp_path: Path, bootstrap: Run) -> None:
    """A profile in an unrelated folder extends the parent by a path, and the repository links to it (a
    file link and a folder link, committed too): diff finds the children inside, and never opens, nor
    lists, anything outside."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "outsider.yaml").write_text("name: outsider\nextends: [../repo/profiles/team.yaml]\n")
    (outside / "team.yaml").write_text("name: outsider-team\n")
    (repo / "profiles").mkdir()
    (repo / "profiles" / "linked.yaml").symlink_to(outside / "outsider.yaml")
    (repo / "shared").symlink_to(outside)
    team_repo(repo)  # commits the links too
    (repo / "profiles" / "team.yaml").write_text(CHANGED_PARENT)
    spy, log = tmp_path / "spy", tmp_path / "opened-outside.log"
    spy.mkdir()
    (spy / "sitecustomize.py").write_text(SPY.format(log=str(log), outside=str(outside.resolve())))
    watched = {"PYTHONPATH": str(spy)}

    bootstrap("validate", "shared/outsider.yaml", env=watched, expect=None)  # the spy sees what a read is
    assert "outsider.yaml" in log.read_text()
    log.write_text("")

    for old, new in (("HEAD:profiles/team.yaml", "profiles/team.yaml"),
                     ("HEAD:profiles/team.yaml", "HEAD:profiles/team.yaml")):  # fmt: skip
        result = bootstrap("diff", old, new, env=watched, expect=None)
        assert result.returncode in (0, 1), result.stderr
        assert "profiles/big.yaml (big)" in result.stdout  # the children inside were read
        assert "outsider" not in result.stdout + result.stderr and "linked" not in result.stdout
        assert log.read_text() == "", f"diff {old} {new} read outside the repository"
