"""Attacks through bootstrap's caches on a host shared with others: template bytecode is executed,
findings decide whether `check` passes, base images boot. With XDG_CACHE_HOME in a shared folder
(a CI runner's /tmp, a team machine), another user plants them before bootstrap runs.
SECURITY.md, "The rendering host"."""

from __future__ import annotations

import os
from pathlib import Path

import jinja2
import pytest


def plant_bytecode(cache: Path, canary: Path) -> None:
    """Jinja bytecode for lib.sh's template that, loaded, leaves ``canary``: the checksum Jinja
    verifies is only the template source's, which anyone can read."""
    from bootstrap.paths import templates_dir

    folder = cache / "bootstrap" / "jinja"
    folder.mkdir(parents=True)
    folder.chmod(0o777)  # another user's folder, open to all (as a shared /tmp's would be)
    planting = jinja2.FileSystemBytecodeCache(str(folder))
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())))
    for name in env.list_templates():
        source, filename, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
        bucket = planting.get_bucket(env, name, filename, source)
        bucket.code = compile(f"open({str(canary)!r}, 'a').write({name!r} + '\\n')", filename, "exec")
        planting.set_bucket(bucket)


def test_planted_template_bytecode_in_a_shared_cache_never_runs(tmp_path: Path, bootstrap_in) -> None:
    cache, canary = tmp_path / "shared-cache", tmp_path / "pwned"
    plant_bytecode(cache, canary)
    (tmp_path / "p.yaml").write_text("name: p\npackages: [jq]\n")
    result = bootstrap_in(tmp_path, "render", "p.yaml", "--target", "bash", env={"XDG_CACHE_HOME": str(cache)})
    assert not canary.exists(), f"planted bytecode ran: {canary.read_text()}"
    assert result.returncode == 0 and "set -euo pipefail" in result.stdout


def test_findings_planted_in_a_shared_cache_are_not_believed(tmp_path: Path, monkeypatch) -> None:
    """A planted empty answer for a script with findings would make check pass it."""
    from bootstrap.checks.cache import FindingsCache

    cache = tmp_path / "shared-cache"
    (cache / "bootstrap" / "findings").mkdir(parents=True)
    (cache / "bootstrap" / "findings").chmod(0o777)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    assert not FindingsCache().enabled
    (cache / "bootstrap" / "findings").chmod(0o700)
    (cache / "bootstrap").chmod(0o700)
    assert FindingsCache().enabled  # a folder of our own is used


@pytest.mark.skipif(os.geteuid() != 0, reason="planting a folder of another user needs root")
def test_a_base_image_folder_of_another_user_is_refused_before_booting(tmp_path: Path, monkeypatch) -> None:
    from bootstrap.errors import BackendError
    from bootstrap.localvm.image import ensure_base_image

    cache = tmp_path / "shared-cache"
    (cache / "bootstrap" / "images").mkdir(parents=True)
    os.chown(cache / "bootstrap", 65534, 65534)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    with pytest.raises(BackendError, match="not a folder of yours"):
        ensure_base_image(progress=lambda _: None)


def test_a_cache_below_a_folder_others_can_change_is_not_trusted(tmp_path: Path, monkeypatch, bootstrap_in) -> None:
    """Our own 0700 folder is not enough when it lies in a folder another user may write without the
    sticky bit: they rename ours away and put theirs (with planted bytecode) in its place, after the check."""
    from bootstrap.checks.cache import FindingsCache

    shared = tmp_path / "open"
    shared.mkdir()
    shared.chmod(0o777)  # writable by all, not sticky
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared / "cache"))
    assert not FindingsCache().enabled
    canary = tmp_path / "pwned"
    plant_bytecode(shared / "cache", canary)
    (tmp_path / "p.yaml").write_text("name: p\n")
    env = {"XDG_CACHE_HOME": str(shared / "cache")}
    result = bootstrap_in(tmp_path, "render", "p.yaml", "--target", "bash", env=env)
    assert result.returncode == 0 and not canary.exists()
