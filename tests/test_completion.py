"""`bootstrap completion SHELL`: the scripts shtab generates from the parser complete what a user types,
in the shell itself (bash here; zsh and fish checked for syntax where installed), and no other command
pays for the completion library."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bootstrap.cli import main
from bootstrap.distro import all_distros
from bootstrap.profile import builtin_profiles
from bootstrap.targets import TARGETS

REPO = Path(__file__).resolve().parent.parent


def _script(shell: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["completion", shell]) == 0
    return capsys.readouterr().out


@pytest.fixture
def bash_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "bootstrap.bash"
    path.write_text(_script("bash", capsys))
    return path


def _complete(script: Path, line: str, cwd: Path) -> list[str]:
    """What bash offers for ``line`` (the word after its last space is the one being completed), the
    way bash calls the function that `complete -F` registered."""
    words = line.split(" ")
    program = (f"source {shlex.quote(str(script))}\nCOMP_WORDS=({' '.join(shlex.quote(w) for w in words)})\n"
               f"COMP_CWORD={len(words) - 1}\n_shtab_bootstrap\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n")  # fmt: skip
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", program], cwd=cwd, capture_output=True, text=True,
                          check=True)  # fmt: skip
    return [word for word in done.stdout.splitlines() if word]


@pytest.mark.parametrize(
    ("line", "offered"),
    [
        ("bootstrap ren", ["render"]),
        ("bootstrap render base --target e", ["ec2"]),
        ("bootstrap check base -t ", list(TARGETS)),
        ("bootstrap render --", ["--target", "--output", "--set", "--gzip"]),
        ("bootstrap completion ", ["bash", "zsh", "fish"]),
        ("bootstrap bake base -b ", ["local", "ec2", "gce"]),
    ],
)
def test_bash_completes_commands_options_and_targets(bash_script: Path, tmp_path: Path, line: str,
                                                     offered: list[str]) -> None:  # fmt: skip
    got = _complete(bash_script, line, tmp_path)
    assert set(offered) <= set(got), got


def test_bash_completes_profiles_builtin_and_files(bash_script: Path, tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    for name in ("gpu-box.yaml", "web.yml", "notes.txt"):
        (tmp_path / name).write_text("")
    everything = _complete(bash_script, "bootstrap render ", tmp_path)
    assert set(builtin_profiles()) | {"gpu-box.yaml", "web.yml", "profiles"} <= set(everything), everything
    assert "notes.txt" not in everything
    assert _complete(bash_script, "bootstrap validate base gpu-b", tmp_path) == ["gpu-box.yaml"]
    assert "base" in _complete(bash_script, "bootstrap images list ba", tmp_path)
    assert _complete(bash_script, "bootstrap diff base cpu-", tmp_path) == ["cpu-datascience"]


def test_bash_completes_distro_names_after_set(bash_script: Path, tmp_path: Path) -> None:
    got = _complete(bash_script, "bootstrap render base --set dis", tmp_path)
    assert got == [f"distro={name}" for name in all_distros()]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_each_shell_script_parses(shell: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = _script(shell, capsys)
    # Every command and every built-in profile is in the script (a static one: nothing runs at TAB).
    for word in ["render", "validate", "init", "completion", *builtin_profiles()]:
        assert word in text, (shell, word)
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed: its script's syntax is not checked")
    path = tmp_path / f"bootstrap.{shell}"
    path.write_text(text)
    checked = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_an_unknown_shell_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "tcsh"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_render_does_not_import_the_completion_library() -> None:
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "bootstrap", "render", "base"], cwd=REPO,
                          capture_output=True, text=True, check=True)  # fmt: skip
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line]
    assert "bootstrap.cli" in imported and not any(name.split(".")[0] == "shtab" for name in imported)


def test_fish_completes_commands_targets_and_profiles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which("fish") is None:
        pytest.skip("fish is not installed")
    script = tmp_path / "bootstrap.fish"
    script.write_text(_script("fish", capsys))
    (tmp_path / "gpu-box.yaml").write_text("")

    def offered(line: str) -> set[str]:
        program = f"source {shlex.quote(str(script))}; complete -C {shlex.quote(line)}"
        done = subprocess.run(["fish", "--no-config", "-c", program], cwd=tmp_path, capture_output=True, text=True,
                              check=True)  # fmt: skip
        return {row.split("\t")[0] for row in done.stdout.splitlines()}

    assert "render" in offered("bootstrap ren")
    assert "ec2" in offered("bootstrap render base --target e")
    assert set(builtin_profiles()) | {"gpu-box.yaml"} <= offered("bootstrap render ")
