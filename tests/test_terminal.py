"""Profile text shown to people never acts on their terminal: control characters are escaped."""

from __future__ import annotations

from pathlib import Path

from bootstrap.cli import main

HOSTILE = 'name: t\ndescription: "ok\\e[2K\\rfine"\ncommands:\n  first_boot: ["echo \\e]8;;http://x\\a \\u202e safe"]\n'
RAW = ("\x1b", "\x07", "\u202e", "\r")


def assert_clean(text: str) -> None:
    assert not any(char in text for char in RAW), repr(text)


def test_explain_and_diff_show_escapes_not_sequences(tmp_path: Path, capsys) -> None:
    old = tmp_path / "old.yaml"
    old.write_text("name: t\n")
    new = tmp_path / "t.yaml"
    new.write_text(HOSTILE)
    assert main(["explain", str(new)]) == 0
    out = capsys.readouterr().out
    assert_clean(out)
    assert main(["diff", str(old), str(new), "--full"]) == 1
    out = capsys.readouterr().out
    assert_clean(out)
    assert "\\x1b]8;;" in out and "\\u202e" in out


def test_errors_and_check_reports_are_escaped(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "b.yaml"
    bad.write_text('name: b\nhostnme: "\\e[31mred"\n')
    assert main(["validate", str(bad)]) == 2
    assert_clean(capsys.readouterr().err)
    good = tmp_path / "t.yaml"
    good.write_text(HOSTILE)
    main(["check", str(good), "-t", "bash"])
    captured = capsys.readouterr()
    assert_clean(captured.out + captured.err)


def test_render_output_stays_byte_for_byte(tmp_path: Path, capsysbinary) -> None:
    profile = tmp_path / "t.yaml"
    profile.write_text(HOSTILE)
    assert main(["render", str(profile), "-t", "bash"]) == 0
    assert b"\x1b]8;;" in capsysbinary.readouterr().out  # the machine gets the command as written


def test_columns_align_under_their_headers_and_leave_the_last_unpadded() -> None:
    from bootstrap.terminal import columns

    assert columns([("image", "age", "channels"), ("a-long-image-name", "3d", "latest, stable"), ("b", "?", "-")]) == [
        "image              age  channels",
        "a-long-image-name  3d   latest, stable",
        "b                  ?    -",
    ]
