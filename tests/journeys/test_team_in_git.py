"""Journey 2, a team that keeps its profiles in git: a parent, two children, a conda environment
file and a pip.conf, with bootstrap's pre-commit hooks. The hooks run on each commit (and stop a
broken one at its line), and `bootstrap diff` between two commits says what a change does and to
whom."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import Run, git

REPO = Path(__file__).resolve().parents[2]
ENV_FILE = "name: ds\nchannels: [conda-forge]\ndependencies: [python=3.11, pandas, jupyterlab]\n"


def team_repository(repo: Path) -> None:
    """The examples/team-ml layout: ml-team (parent, abstract), analyst and gpu-trainer (children),
    files/pip.conf, and envs/ds.yml, a conda environment file the analyst's profile uses."""
    shutil.copytree(REPO / "examples" / "team-ml", repo, dirs_exist_ok=True)  # copied out, as a team starts
    (repo / "profiles" / "envs").mkdir()
    (repo / "profiles" / "envs" / "ds.yml").write_text(ENV_FILE)
    analyst = repo / "profiles" / "analyst.yaml"
    analyst.write_text(analyst.read_text() + "conda:\n  environments:\n    - name: ds\n      file: envs/ds.yml\n")
    # The hooks as a team installs them; `language: system` runs the installed bootstrap, offline.
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    local = [{key: hook[key] for key in ("id", "name", "entry", "files", "exclude") if key in hook}
             | {"language": "system", "require_serial": True} for hook in hooks]  # fmt: skip
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump({"repos": [{"repo": "local", "hooks": local}]}))


@pytest.fixture
def hooked(repo: Path, tmp_path: Path) -> dict[str, str]:
    """The repository with the hooks installed; the environment a commit runs in."""
    pre_commit = shutil.which("pre-commit", path=str(Path(os.sys.executable).parent)) or shutil.which("pre-commit")
    if pre_commit is None:
        pytest.skip("pre-commit is not installed (it comes with the test extras)")
    if not (shutil.which("shellcheck") and shutil.which("cloud-init")):
        pytest.skip("the bootstrap-check hook needs shellcheck and cloud-init")
    team_repository(repo)
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "PATH": f"{Path(os.sys.executable).parent}:{os.environ['PATH']}"}  # fmt: skip
    subprocess.run([pre_commit, "install"], cwd=repo, env=env, check=True, capture_output=True)
    return env


def commit(repo: Path, env: dict[str, str], message: str) -> subprocess.CompletedProcess[str]:
    git(repo, "add", "-A")
    done = subprocess.run(["git", "commit", "-q", "-m", message], cwd=repo, env=env, capture_output=True, text=True)
    done.stdout += done.stderr  # pre-commit reports on either, by version
    return done


def test_hooks_on_commits_and_diff_between_them(repo: Path, hooked: dict[str, str], bootstrap: Run) -> None:
    # The first commit: both hooks pass on every profile; the environment file is named as skipped.
    first = commit(repo, hooked, "team profiles")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "bootstrap validate" in first.stdout and "bootstrap check" in first.stdout
    assert "Traceback" not in first.stdout + first.stderr

    # A misspelt key is stopped at its line, and nothing is committed.
    analyst = repo / "profiles" / "analyst.yaml"
    good = analyst.read_text()
    analyst.write_text(good.replace("hostname:", "hostnme:"))
    broken = commit(repo, hooked, "typo")
    assert broken.returncode != 0
    assert "profiles/analyst.yaml:5:1" in broken.stdout and "did you mean 'hostname'" in broken.stdout
    assert git(repo, "rev-list", "--count", "HEAD").stdout.strip() == "1"

    # The team changes the parent's pip.conf and the trainer's packages: both reach the children.
    analyst.write_text(good)
    pip_conf = repo / "profiles" / "files" / "pip.conf"
    pip_conf.write_text(pip_conf.read_text() + "timeout = 60\n")
    trainer = repo / "profiles" / "gpu-trainer.yaml"
    trainer.write_text(trainer.read_text().replace("idle_shutdown:\n  after_minutes: 120",
                                                   "idle_shutdown:\n  after_minutes: 90"))  # fmt: skip
    second = commit(repo, hooked, "pip timeout; trainer idles sooner")
    assert second.returncode == 0, second.stdout + second.stderr

    # diff between the two commits: the pip.conf change is a file baked into the image (rebake);
    # the idle time is an every-boot step (running machines pick it up on reboot).
    changed = bootstrap("diff", "HEAD~1:profiles/analyst.yaml", "HEAD:profiles/analyst.yaml", expect=1).stdout
    assert "file-etc-pip.conf" in changed and "golden image must be rebuilt" in changed
    idle = bootstrap("diff", "HEAD~1:profiles/gpu-trainer.yaml", "profiles/gpu-trainer.yaml", expect=1).stdout
    assert "idle-shutdown" in idle and "every-boot steps changed" in idle
    same = bootstrap("diff", "HEAD:profiles/analyst.yaml", "profiles/analyst.yaml", expect=0).stdout
    assert "no change" in same
    # --json for the review bot.
    verdicts = bootstrap("diff", "--json", "HEAD~1:profiles/analyst.yaml", "HEAD:profiles/analyst.yaml", expect=1)
    assert "golden image must be rebuilt" in " ".join(__import__("json").loads(verdicts.stdout)["verdicts"])


def test_the_example_copied_out_keeps_its_editor_schema_and_hooks(repo: Path, bootstrap: Run) -> None:
    """examples/team-ml copied out as a team's own repository: the schema modelines still resolve,
    inside it, to the schema this bootstrap prints; the hooks it pins exist at the pinned release."""
    from bootstrap import __version__

    shutil.copytree(REPO / "examples" / "team-ml", repo, dirs_exist_ok=True)
    printed = bootstrap("schema").stdout
    for profile in sorted((repo / "profiles").glob("*.yaml")):
        first = profile.read_text().splitlines()[0]
        target = (profile.parent / first.split("$schema=", 1)[1]).resolve()
        assert target.is_relative_to(repo.resolve()) and target.read_text() == printed, profile.name
    config = yaml.safe_load((repo / ".pre-commit-config.yaml").read_text())
    offered = {hook["id"] for hook in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    (pinned,) = config["repos"]
    assert pinned["rev"] == f"v{__version__}" and {h["id"] for h in pinned["hooks"]} <= offered
