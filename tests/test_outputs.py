"""What bootstrap writes: atomic, never through a link, private unless --mode says otherwise."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from bootstrap import output
from bootstrap.cli import main


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_render_output_is_private_by_default_and_mode_is_an_option(tmp_path: Path, capsys) -> None:
    out = tmp_path / "user-data"
    assert main(["render", "base", "-o", str(out)]) == 0
    assert mode_of(out) == 0o600
    assert main(["render", "base", "-o", str(out), "--mode", "0644"]) == 0
    assert mode_of(out) == 0o644
    assert main(["render", "base", "-o", str(out), "--mode", "rw"]) == 2
    assert "expected an octal mode" in capsys.readouterr().err


def test_render_creates_the_folder(tmp_path: Path, capsys) -> None:
    out = tmp_path / "build" / "ec2" / "user-data"
    assert main(["render", "base", "-o", str(out)]) == 0
    assert out.read_bytes().startswith(b"Content-Type: multipart/mixed")


def test_render_never_writes_through_a_link(tmp_path: Path, capsys) -> None:
    victim = tmp_path / "bashrc"
    victim.write_text("precious\n")
    link = tmp_path / "user-data"
    link.symlink_to(victim)
    assert main(["render", "base", "-o", str(link)]) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert victim.read_text() == "precious\n" and link.is_symlink()


def test_render_onto_a_folder_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["render", "base", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is a directory" in err and "Traceback" not in err


def test_a_device_is_written_in_place_never_replaced(capsys) -> None:
    assert main(["render", "base", "-o", "/dev/null"]) == 0
    assert Path("/dev/null").is_char_device()


def test_a_socket_is_refused(tmp_path: Path, capsys) -> None:
    import socket

    path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        assert main(["render", "base", "-o", str(path)]) == 2
    assert "not a regular file" in capsys.readouterr().err


def test_a_full_disk_leaves_the_old_file_whole_and_no_temporary(tmp_path: Path, capsys, monkeypatch) -> None:
    out = tmp_path / "setup.sh"
    out.write_text("#!/bin/bash\necho old\n")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(output.os, "fsync", full)
    assert main(["render", "base", "-t", "bash", "-o", str(out)]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert out.read_text() == "#!/bin/bash\necho old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["setup.sh"]


def test_export_writes_privately_and_refuses_a_file_as_folder(tmp_path: Path, capsys) -> None:
    assert main(["export", "terraform", "base", "-o", str(tmp_path / "tf")]) == 0
    written = sorted((tmp_path / "tf").iterdir())
    assert written and all(mode_of(p) == 0o600 for p in written)
    (tmp_path / "file").write_text("x")
    assert main(["export", "packer", "base", "-o", str(tmp_path / "file")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_export_does_not_follow_a_planted_link(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "pk"
    folder.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    (folder / "base.ec2-user-data").symlink_to(victim)
    assert main(["export", "terraform", "base", "-o", str(folder)]) == 2
    assert victim.read_text() == "keep\n"
