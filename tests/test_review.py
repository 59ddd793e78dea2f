"""Review tools: `bootstrap explain` and `bootstrap diff` (files and git revisions)."""

from __future__ import annotations

import json
import subprocess

from bootstrap.cli import main
from bootstrap.targets import TARGETS

BASE = """\
name: demo
packages: [htop]
hostname: demo
commands:
  first_boot: [{name: hello, run: echo hello}]
  every_boot: [{name: tick, run: date}]
"""


def test_explain_prints_every_step_with_phase_scope_and_cost(write_profile, capsys) -> None:
    assert main(["explain", str(write_profile(BASE))]) == 0
    out = capsys.readouterr().out
    rows = [line.split()[:5] for line in out.splitlines()[1:5]]
    # one order for every boot: the host name first, wherever its phase
    assert rows == [["hostname", "every_boot", "instance", "hostname", "fast"],
                    ["packages", "first_boot", "image", "packages", "network"],
                    ["cmd-hello", "first_boot", "instance", "commands", "fast"],
                    ["cmd-tick", "every_boot", "instance", "commands", "fast"]]  # fmt: skip
    assert "a baked image carries packages (scope image)" in out


def test_explain_json_and_render_explain_give_hashes_and_sizes(write_profile, capsys) -> None:
    profile = str(write_profile(BASE))
    assert main(["explain", profile, "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [s["id"] for s in plan["steps"]] == ["hostname", "packages", "cmd-hello", "cmd-tick"]
    assert all(len(s["hash"]) == 16 and s["bytes"] > 0 for s in plan["steps"])
    assert set(plan["sizes"]) == set(TARGETS)  # every target of the registry, a new one too
    assert plan["steps"][2]["origin"].endswith("profile.yaml:5:35")
    assert main(["render", profile, "--explain", "-t", "gce"]) == 0
    assert set(json.loads(capsys.readouterr().out)["sizes"]) == {"gce"}


def diff(old, new, capsys, *extra: str) -> tuple[int, dict]:
    code = main(["diff", str(old), str(new), "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def test_diff_verdicts_say_who_picks_a_change_up(write_profile, capsys) -> None:
    old = write_profile(BASE, "old.yaml")
    code, same = diff(old, old, capsys)
    assert code == 0 and same["verdicts"] == ["no change: the rendered output is identical"]

    image = write_profile(BASE.replace("[htop]", "[htop, tmux]"), "image.yaml")
    code, result = diff(old, image, capsys)
    assert code == 1 and result["verdicts"][0].startswith("image-scope steps changed: the golden image must be")
    assert result["phases"][0] == {"phase": "first_boot", "added": [], "removed": [], "changed": ["packages"]}

    every = write_profile(BASE.replace("run: date", "run: uptime"), "every.yaml")
    _, result = diff(old, every, capsys)
    assert result["verdicts"] == ["every-boot steps changed: running instances pick it up on their next reboot only "
                                  "if their user data (or startup-script) is updated"]  # fmt: skip
    assert result["phases"][1]["changed"] == ["cmd-tick"]

    first = write_profile(BASE.replace("echo hello", "echo hi"), "first.yaml")
    _, result = diff(old, first, capsys)
    assert result["verdicts"] == ["first-boot steps changed: running instances are unaffected; new instances and "
                                  "the next bake pick it up"]  # fmt: skip
    assert all(t["changed"] for t in result["targets"].values())


def test_diff_reads_git_revisions_with_their_own_extends(tmp_path, monkeypatch, capsys) -> None:
    repo = tmp_path / "team"
    (repo / "profiles").mkdir(parents=True)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "profiles" / "parent.yaml").write_text("name: parent\npackages: [htop]\n")
    (repo / "profiles" / "child.yaml").write_text("name: child\nextends: [parent]\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    (repo / "profiles" / "parent.yaml").write_text("name: parent\npackages: [htop, jq]\n")  # changes the child too
    monkeypatch.chdir(repo)
    code, result = diff("HEAD:profiles/child.yaml", "profiles/child.yaml", capsys)
    assert code == 1 and result["phases"][0]["changed"] == ["packages"]
    code, _ = diff("HEAD:profiles/child.yaml", "HEAD:profiles/child.yaml", capsys)
    assert code == 0
    assert main(["diff", "HEAD:profiles/missing.yaml", "profiles/child.yaml"]) == 2
    assert "no such file" in capsys.readouterr().err
