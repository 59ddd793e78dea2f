"""What the command line says, and how (issue 26): -q and -v on every command, colour on a terminal only,
the closest command for a misspelt one, and the hand-off line after `render -o` from each target's record."""

from __future__ import annotations

import json

import pytest

from bootstrap.bake.events import Events
from bootstrap.cli import main
from bootstrap.targets import TARGET_RECORDS
from bootstrap.terminal import wants_color


@pytest.fixture(autouse=True)
def _plain(monkeypatch) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_says_nothing_but_the_result(tmp_path, capsys, where) -> None:
    out = tmp_path / "ud"
    args = ["render", "base", "-t", "ec2", "-o", str(out)]
    assert main(["-q", *args] if where == "before" else [*args, "-q"]) == 0
    assert capsys.readouterr().err == "" and out.stat().st_size > 0  # no gzip note, no wrote line, no hand-off
    assert main(["render", "base", "-t", "bash", "--quiet"]) == 0  # the bytes on stdout print all the same
    assert capsys.readouterr().out.startswith("#!/usr/bin/env bash\n")
    assert main(["check", "-q", "base", "-t", "gce"]) == 0  # the report is check's result
    assert "ok: 0 errors" in capsys.readouterr().out


def test_quiet_still_says_errors(capsys) -> None:
    assert main(["-q", "render", "no-such-profile"]) == 2
    assert "profile 'no-such-profile' not found" in capsys.readouterr().err


def test_verbose_says_why(tmp_path, capsys) -> None:
    assert main(["render", "-v", "base", "-t", "gce", "-o", str(tmp_path / "s")]) == 0
    err = capsys.readouterr().err
    assert "bootstrap: profile base: " in err and "within GCE's 262,144" in err
    assert main(["render", "base", "-t", "gce", "-o", str(tmp_path / "s")]) == 0
    assert "within GCE's" not in capsys.readouterr().err  # the why is -v's alone
    assert main(["-v", "check", "base"]) == 0
    assert "checking for cloud-init, ec2, gce, bash (every target: no --target given)" in capsys.readouterr().err


def test_events_under_quiet_say_failures_only(capsys) -> None:
    events = Events(quiet=True)
    events.emit("progress", "launching")
    events.emit("failed", "it broke")
    assert capsys.readouterr().err == "bake: it broke\n" and len(events.history) == 2


@pytest.mark.parametrize("name", sorted(TARGET_RECORDS))
def test_render_o_says_how_to_hand_it_over_from_the_target_record(tmp_path, capsys, name) -> None:
    out = tmp_path / "user data"
    assert main(["render", "base", "-t", name, "-o", str(out)]) == 0
    last = capsys.readouterr().err.splitlines()[-1]
    assert last == "bootstrap: " + TARGET_RECORDS[name].handoff_line(str(out))
    assert f"'{out}'" in last  # quoted for the shell it is pasted into


def test_hand_off_wording(tmp_path) -> None:
    path = str(tmp_path / "ud")
    assert f"aws ec2 run-instances --image-id AMI --instance-type TYPE --user-data fileb://{path}" in (
        TARGET_RECORDS["ec2"].handoff_line(path))  # fmt: skip
    assert f"--metadata-from-file startup-script={path}" in TARGET_RECORDS["gce"].handoff_line(path)
    assert f"scp {path} HOST: && ssh HOST sudo bash ud" in TARGET_RECORDS["bash"].handoff_line(path)
    assert "NoCloud" in TARGET_RECORDS["cloud-init"].handoff_line(path)


def test_no_hand_off_for_base64_or_stdout(tmp_path, capsys) -> None:
    assert main(["render", "base", "-t", "ec2", "--base64", "-o", str(tmp_path / "b")]) == 0
    assert "to launch" not in capsys.readouterr().err  # encoded for an API: the hand-offs take the bytes
    assert main(["render", "base", "-t", "gce"]) == 0
    assert "to launch" not in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "said"), [
    (["rendr", "base"], "error: no command 'rendr'; did you mean 'render'?"),
    (["images", "lst", "p"], "error: no images action 'lst'; did you mean 'list'?"),
    (["zzzz"], "error: no command 'zzzz'; one of render, validate, check,"),
])  # fmt: skip
def test_a_misspelt_command_names_the_closest(capsys, argv, said) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(said) and "choose from" not in err


def test_color_rules() -> None:
    class Tty:
        def isatty(self) -> bool:
            return True

    tty, pipe = Tty(), object()
    assert wants_color(tty, "auto", {}) and not wants_color(pipe, "auto", {})
    assert not wants_color(tty, "auto", {"NO_COLOR": "1"}) and wants_color(tty, "auto", {"NO_COLOR": ""})
    assert wants_color(pipe, "auto", {"FORCE_COLOR": "1"}) and wants_color(pipe, "always", {"NO_COLOR": "1"})
    assert not wants_color(tty, "never", {"FORCE_COLOR": "1"}) and not wants_color(tty, "auto", {"TERM": "dumb"})


def test_colour_in_human_output_only(capsys, monkeypatch) -> None:
    assert main(["validate", "base"]) == 0  # piped (captured): plain
    assert "\x1b" not in capsys.readouterr().out
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert main(["validate", "base"]) == 0
    assert capsys.readouterr().out.startswith("\x1b[32mok: base")
    assert main(["validate", "nope", "--color=always"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("\x1b[31merror: profile 'nope' not found") and "\x1b[0m\n  hint:" in err
    assert main(["validate", "base", "--json", "--color=always"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and json.loads(out)[0]["ok"]
    assert main(["validate", "base", "--color=never"]) == 0
    assert "\x1b" not in capsys.readouterr().out


def test_profile_text_is_escaped_in_colour_too(write_profile, capsys, monkeypatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    bad = write_profile("name: x\npakages: [\"\\e[2K\"]\n", "bad\x1b[2K.yaml")
    assert main(["validate", str(bad)]) == 2
    assert "\\x1b[2K" in capsys.readouterr().err


def test_render_o_dash_is_standard_output_not_a_file_named_dash(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)  # a newcomer's `-o -` once wrote ./- and told them to launch with it
    assert main(["render", "base", "-t", "bash", "-o", "-"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("#!/usr/bin/env bash\n") and err == "" and not (tmp_path / "-").exists()
