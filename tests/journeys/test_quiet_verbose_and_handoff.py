"""A DevOps engineer renders a profile and is told how to hand the file to the cloud; in a script, -q
keeps stderr for errors; -v says why (issue 26). The installed command, as a user types it."""

from __future__ import annotations

from pathlib import Path

from .conftest import Run


def test_render_o_then_the_hand_off_line(bootstrap: Run, repo: Path) -> None:
    ec2 = bootstrap("render", "base", "-t", "ec2", "-o", "user-data.bin")
    assert ec2.stderr.splitlines()[-1] == ("bootstrap: to launch: aws ec2 run-instances --image-id AMI "
                                           "--instance-type TYPE --user-data fileb://user-data.bin")  # fmt: skip
    gce = bootstrap("render", "base", "--target", "gce", "-o", "startup.sh")
    assert "gcloud compute instances create NAME --metadata-from-file startup-script=startup.sh" in gce.stderr
    assert (repo / "user-data.bin").exists() and (repo / "startup.sh").exists()


def test_quiet_before_or_after_the_command_keeps_errors_only(bootstrap: Run, repo: Path) -> None:
    for args in (["-q", "render", "base", "-t", "ec2", "-o", "a.bin"], ["render", "base", "-o", "b.yaml", "-q"]):
        done = bootstrap(*args)
        assert done.stderr == "" and done.stdout == ""
    piped = bootstrap("-q", "render", "base", "-t", "bash")
    assert piped.stdout.startswith("#!/usr/bin/env bash") and piped.stderr == ""
    (repo / "bad.yaml").write_text("name: bad\npakages: [jq]\n")
    failed = bootstrap("validate", "-q", "bad.yaml", expect=2)
    assert "bad.yaml:2:1: error: unknown key 'pakages'" in failed.stderr


def test_verbose_says_why_and_a_misspelt_command_is_named(bootstrap: Run) -> None:
    told = bootstrap("render", "base", "-t", "ec2", "-o", "ud.bin", "-v")
    assert "bootstrap: profile base: " in told.stderr and "is over EC2's 16,384" in told.stderr
    checked = bootstrap("-v", "check", "base", "-t", "gce")
    assert "checking for gce" in checked.stderr and "ok: 0 errors" in checked.stdout
    wrong = bootstrap("rendr", "base", expect=2)
    assert wrong.stderr == "error: no command 'rendr'; did you mean 'render'?\n"
    assert "\x1b" not in told.stderr + checked.stdout  # piped: no colour
