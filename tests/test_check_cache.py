"""The findings cache makes `check` fast and never hides a finding: a warm run reports exactly what a
cold one did, and a new shellcheck (version) or new options start from nothing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bootstrap.checks import cloudinit_schema, shell
from bootstrap.checks.cache import FindingsCache
from bootstrap.checks.run import check_profiles
from bootstrap.targets.bundle import library

pytestmark = pytest.mark.skipif(not (shutil.which("shellcheck") and cloudinit_schema.available()),
                                reason="needs shellcheck and cloud-init")  # fmt: skip

# SC2064 (a warning): the trap's variable expands now, not when it fires; the author's own command, line 5.
PROFILE = """\
name: planted
packages: [jq]
commands:
  first_boot:
    - {name: tidy, run: 'tmp=$(mktemp); trap "rm -f $tmp" EXIT'}
"""
TARGETS = ["cloud-init", "ec2", "gce", "bash"]


def findings(path: Path, store: FindingsCache) -> list[str]:
    [(_, report)] = check_profiles([str(path)], TARGETS, findings_cache=store)
    assert not isinstance(report, Exception)
    return [str(f) for f in report.findings]


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    path = tmp_path / "planted.yaml"
    path.write_text(PROFILE)
    return path


def test_a_planted_warning_is_reported_cold_and_warm_at_its_profile_line(profile: Path, tmp_path: Path) -> None:
    store = FindingsCache(tmp_path / "cache")
    cold = findings(profile, store)
    planted = [f for f in cold if "SC2064" in f]
    assert planted and all(f.startswith(f"{profile}:5:") for f in planted), cold  # every target, the same line
    warm_store = FindingsCache(tmp_path / "cache")
    warm = findings(profile, warm_store)
    assert warm == cold  # byte for byte, in the same order
    assert warm_store.hits and not warm_store.misses  # nothing was checked again


def test_each_distinct_script_is_checked_once_across_targets_and_profiles(
    profile: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real = shell._check_texts

    def counting(texts: list[str], library: str | None) -> dict:
        checked.extend(texts)
        return real(texts, library)

    monkeypatch.setattr(shell, "_check_texts", counting)
    twin = tmp_path / "twin.yaml"
    twin.write_text(PROFILE.replace("planted", "twin"))
    check_profiles([str(profile), str(twin)], TARGETS, findings_cache=FindingsCache(tmp_path / "cache"))
    assert len(checked) == len(set(checked))  # the runner, lib.sh and each step once, not once per target
    assert checked.count(library()) == 1  # and lib.sh once for both profiles


def test_a_new_shellcheck_or_new_options_start_from_nothing(profile: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    root = tmp_path / "cache"
    cold = findings(profile, FindingsCache(root))
    checked_texts: list[str] = []
    real_check = shell._check_texts
    monkeypatch.setattr(shell, "_check_texts", lambda texts, lib: checked_texts.extend(texts) or real_check(texts, lib))
    assert findings(profile, FindingsCache(root)) == cold and checked_texts == []  # the same shellcheck: all cached
    # Another shellcheck on PATH: a wrapper around the real one that says it is a newer version.
    tools = tmp_path / "bin"
    tools.mkdir()
    real = shutil.which("shellcheck")
    (tools / "shellcheck").write_text(f'#!/bin/sh\n[ "$1" = --version ] && {{ echo "version: 99.0.0"; exit 0; }}\n'
                                      f'exec {real} "$@"\n')  # fmt: skip
    (tools / "shellcheck").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    shell._identity.cache_clear()
    try:
        assert findings(profile, FindingsCache(root)) == cold
        assert checked_texts  # shellcheck ran again: its answers of another version are not this one's
    finally:
        monkeypatch.undo()  # the real shellcheck again (and the spy gone: set it anew)
        shell._identity.cache_clear()
    monkeypatch.setattr(shell, "_check_texts", lambda texts, lib: checked_texts.extend(texts) or real_check(texts, lib))
    monkeypatch.setattr(shell, "OPTIONS", (*shell.OPTIONS[:1], "--severity=error", *shell.OPTIONS[2:]))
    checked_texts.clear()
    assert [f for f in findings(profile, FindingsCache(root)) if "SC2064" in f] == []  # under an error floor
    assert checked_texts


LIB_USERS = """\
name: lib-users
commands:
  first_boot:
    - {name: tuned, run: 'BOOTSTRAP_RETRIES=10; retry curl -fsS https://example.com/ -o /tmp/x'}
    - {name: unsafe, run: 'root_only /srv/x || echo "$UNSAFE_DIR"'}
    - {name: stray, run: 'echo "$attempt $delay $nowhere"'}
    - {name: unused, run: 'Status=1; apt_install jq'}
"""


def test_steps_see_the_interface_of_lib_sh_as_they_would_see_all_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Steps are checked against lib.sh's interface (functions, the globals it sets and reads), not
    its full text (interface.py): the findings must be the same, on every built-in profile and example
    and on commands that lean on lib.sh's names (and on its locals, which must not leak)."""
    repo = Path(__file__).resolve().parent.parent
    (tmp_path / "lib-users.yaml").write_text(LIB_USERS)
    profiles = [*map(str, sorted((repo / "profiles").glob("*.yaml"))),
                *map(str, sorted((repo / "examples").rglob("profiles/*.yaml"))),
                str(tmp_path / "lib-users.yaml")]  # fmt: skip

    def everything(store: FindingsCache) -> list[str]:
        return [str(f) for _, report in check_profiles(profiles, TARGETS, findings_cache=store)
                if not isinstance(report, Exception) for f in report.findings]  # fmt: skip

    reduced = everything(FindingsCache(tmp_path / "reduced"))
    monkeypatch.setattr(shell, "sourced_view", lambda library: library)
    full = everything(FindingsCache(tmp_path / "full"))
    assert reduced == full
    assert any("SC2154" in f and "nowhere" in f for f in full)  # a name set nowhere is reported either way
    assert any("SC2034" in f and "Status" in f for f in full)  # '${Status}' in lib.sh is dpkg-query's
