"""Every command shown in README.md and docs/*.md runs (issue 26): the convention is at the top of
docs/testing.md. Each shown command is either in RUN, run here in a copy of a small repository, or in
NOT_RUN with the reason it cannot run here; a command in neither fails, so the lists cannot rot."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELL_BLOCKS = {"sh", "bash", "shell"}

# Run in a copy of the repository that setup() builds; the comment's `exit N` is the code expected.
RUN = {
    "bootstrap list",
    "bootstrap init team-profiles",
    "source <(bootstrap completion bash)",
    "bootstrap validate my-profile.yaml",
    "bootstrap render my-profile.yaml --target ec2 -o user-data.bin",
    "bootstrap render my-profile.yaml --target gce -o startup-script.sh",
    "bootstrap render base --set timezone=Europe/Paris --set 'packages=[jq]'",
    "bootstrap schema > profile.schema.json",
    "bootstrap explain my-profile.yaml",
    "bootstrap diff HEAD~1:my-profile.yaml my-profile.yaml",
    "bootstrap check my-profile.yaml",
    "bootstrap export packer my-profile.yaml -o build/",
    "cd team-profiles && git init -q && git add -A && git commit -qm 'our profiles'",
    "bootstrap validate profiles/team.yaml",
    "bootstrap check profiles/team.yaml",
    "bootstrap diff HEAD:profiles/team.yaml profiles/team.yaml",
    "bootstrap bake base --dry-run",
    "bootstrap rebuild profiles/ --dry-run",
    "bootstrap images list base",
    "bootstrap render base --target ec2 -o user-data.bin",
    "bootstrap check base --target gce",
}

VM = "boots a QEMU VM (the VM tier's, tests/test_vm.py)"
EC2 = "calls AWS (its lifecycle runs against moto in tests/test_bake_ec2.py and tests/test_channels.py)"
GCE = "calls Google Cloud (its lifecycle runs against the stand-in in tests/test_bake_gce.py)"
NOT_RUN = {
    "python3 -m venv .venv && .venv/bin/pip install -q . && .venv/bin/bootstrap render base --target cloud-init -o "
    "user-data.txt": "network: pip fetches the dependencies (tests/test_packaging.py installs a wheel offline and "
    "runs the command; `render base` is run here in other forms)",
    "bash tests/run": "the whole suite, with apt-get and npm (CI runs it: .ci/run)",
    "bash tests/run tests/test_docs_commands.py": "this test itself, through tests/run's apt-get and npm",
    ". .venv/bin/activate": "needs the .venv that the first command of README makes, with the network",
    "pip install '.[aws]'": "network: installs boto3 from PyPI",
    "pip install '.[gcp]'": "network: installs google-cloud-compute from PyPI",
    "bootstrap render my-profile.yaml --target bash > setup.sh && sudo bash setup.sh": "runs the script as root on "
    "this machine (the sandbox tier runs rendered scripts in a throwaway root: tests/sandbox.py)",
    "bootstrap test my-profile.yaml": VM,
    "bootstrap bake my-profile.yaml": VM + ": a local bake",
    "bootstrap bake base -o images": VM + ": a local bake",
    "bootstrap bake base -b local --target ec2": VM + ": a local bake",
    "bootstrap bake gpu-pytorch -b ec2 --region eu-west-1 --source ssm:/my-org/debian-12 --subnet subnet-0abc "
    "--security-group sg-0abc --instance-profile builder --copy-to us-east-1": EC2,
    "bootstrap bake gpu-pytorch -b gce --project my-proj --zone europe-west1-b": GCE,
    "bootstrap rebuild profiles/ -b ec2 ...": EC2 + "; `...` stands for the bake's options",
    "bootstrap reap -b ec2": EC2,
    "bootstrap images list gpu-pytorch -b ec2 --region eu-west-1": EC2,
    "bootstrap images promote gpu-pytorch --channel stable -b ec2 --region eu-west-1": EC2,
    "bootstrap images rollback gpu-pytorch --channel stable -b ec2 --region eu-west-1": EC2,
    "$ bootstrap diff HEAD:profiles/team.yaml profiles/team.yaml": "a transcript of a changed parent in the "
    "repository that tests/journeys/test_diff_of_a_parent.py builds (big, strict, gpu/big-gpu), which holds this "
    "output; the same command runs in team.md's sh block",
}

PROFILE_V1 = "name: my-profile\ndescription: the docs' example\nextends: [base]\ntimezone: Europe/Paris\n"
PROFILE_V2 = PROFILE_V1 + "packages: [build-essential]\n"


@dataclass(frozen=True)
class Shown:
    page: str
    line: int
    command: str  # the text that RUN and NOT_RUN name: one line, comment removed; a transcript's with its `$ `
    exit_code: int  # stated in its comment as `exit N`, else 0


def _command(text: str) -> tuple[str, int]:
    """The command and its stated exit code, from a line whose ` # ` starts a comment."""
    command, _, comment = text.partition(" # ")
    stated = re.search(r"\bexit (\d+)\b", comment)
    return command.strip(), int(stated.group(1)) if stated else 0


def shown(page: Path) -> list[list[Shown]]:
    """The commands of each fenced block of a page, in order (docs/testing.md's convention)."""
    blocks: list[list[Shown]] = []
    fence: str | None = None
    pending = ""
    name = page.relative_to(REPO).as_posix()
    for number, line in enumerate(page.read_text().splitlines(), 1):
        opened = re.match(r"^\s*```\s*([\w-]*)", line)
        if opened and fence is None:
            fence = opened.group(1).lower()
            blocks.append([])
            continue
        if opened:
            fence = None
            continue
        if fence is None:
            continue
        if fence in SHELL_BLOCKS:
            text, prompt = line.strip(), ""
        elif line.startswith("$ "):
            text, prompt = line[2:].strip(), "$ "
        else:
            continue
        if pending:
            text, pending = pending + " " + text, ""
        if text.endswith("\\"):
            pending = text[:-1].rstrip()
            continue
        if text and not text.startswith("#"):
            command, code = _command(text)
            blocks[-1].append(Shown(name, number, prompt + command, code))
    return [block for block in blocks if block]


def every_block() -> list[list[Shown]]:
    return [block for page in PAGES for block in shown(page)]


def test_every_command_shown_is_run_or_listed_with_its_reason() -> None:
    commands = {s.command: s for block in every_block() for s in block}
    unknown = [f"{s.page}:{s.line}: {c}" for c, s in commands.items() if c not in RUN and c not in NOT_RUN]
    assert not unknown, "commands shown that this test neither runs nor lists (add each to RUN or NOT_RUN):\n" + \
        "\n".join(unknown)  # fmt: skip
    gone = sorted((RUN | set(NOT_RUN)) - set(commands))
    assert not gone, f"listed here but no page shows them any more: {gone}"
    assert not RUN & set(NOT_RUN) and all(NOT_RUN.values())


def test_the_convention_finds_what_it_says() -> None:
    """A continued line is one command, a comment states the exit code, a transcript's output is not run."""
    page = REPO / "docs" / "rebuild.md"
    bake = [s for block in shown(page) for s in block if s.command.startswith("bootstrap bake gpu-pytorch -b ec2")]
    assert len(bake) == 1 and bake[0].command.endswith("--copy-to us-east-1")
    rebuild = [s for block in shown(page) for s in block if s.command == "bootstrap rebuild profiles/ --dry-run"]
    assert rebuild and rebuild[0].exit_code == 2
    team = [s.command for block in shown(REPO / "docs" / "team.md") for s in block]
    assert "bootstrap diff HEAD:profiles/team.yaml profiles/team.yaml" in team  # the sh block's
    assert "$ bootstrap diff HEAD:profiles/team.yaml profiles/team.yaml" in team  # the transcript's
    assert not any("profiles extending" in c for c in team)  # the transcript's output


def _network_of_its_own() -> list[str]:
    for wrapper in (["unshare", "-n"], ["unshare", "-rn"]):
        if shutil.which("unshare") and subprocess.run([*wrapper, "true"], capture_output=True).returncode == 0:
            return wrapper
    return []


def setup(root: Path) -> tuple[Path, dict[str, str]]:
    """A git repository with the built-in profiles and my-profile.yaml in two versions; the environment."""
    bin_dir, home, repo = root / "bin", root / "home", root / "repo"
    for folder in (bin_dir, home, repo):
        folder.mkdir()
    shim = bin_dir / "bootstrap"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m bootstrap "$@"\n')
    shim.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}", "HOME": str(home), "LANG": "C.UTF-8",
           "PYTHONPATH": str(REPO), "BOOTSTRAP_GUEST_MIRROR": "127.0.0.1:9", "NO_COLOR": "1",
           "GIT_AUTHOR_NAME": "docs", "GIT_AUTHOR_EMAIL": "docs@example.com", "GIT_COMMITTER_NAME": "docs",
           "GIT_COMMITTER_EMAIL": "docs@example.com", "GIT_CONFIG_GLOBAL": "/dev/null"}  # fmt: skip
    shutil.copytree(REPO / "profiles", repo / "profiles")
    git = ["git", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=repo, env=env, check=True)
    for text, message in ((PROFILE_V1, "my profile"), (PROFILE_V2, "build-essential")):
        (repo / "my-profile.yaml").write_text(text)
        subprocess.run(["git", "add", "-A"], cwd=repo, env=env, check=True)
        subprocess.run(["git", "commit", "-qm", message], cwd=repo, env=env, check=True)
    return repo, env


def run_block(block: list[Shown], work: Path, env: dict[str, str], wrapper: list[str]) -> list[str]:
    """Run a block's RUN commands in order in one bash; the problems found."""
    chosen = [s for s in block if s.command in RUN]
    if not chosen:
        return []
    script = "".join(f'{{ {s.command}\n}} >"$LOGS/{i}.out" 2>"$LOGS/{i}.err" </dev/null; echo "$?" >>"$LOGS/rc"\n'
                     for i, s in enumerate(chosen))  # fmt: skip
    logs = work.parent / (work.name + ".logs")
    logs.mkdir()
    proc = subprocess.run([*wrapper, "bash", "-c", script], cwd=work, env={**env, "LOGS": str(logs)},
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    codes = (logs / "rc").read_text().split() if (logs / "rc").exists() else []
    problems = [] if len(codes) == len(chosen) else [f"{block[0].page}: the block stopped: {proc.stderr[-2000:]}"]
    for i, (s, code) in enumerate(zip(chosen, codes, strict=False)):  # a stopped block: fewer codes
        err = (logs / f"{i}.err").read_text()
        if int(code) != s.exit_code or "Traceback" in err:
            problems.append(f"{s.page}:{s.line}: `{s.command}` exited {code}, expected {s.exit_code}:\n{err[-3000:]}")
    return problems


def test_every_command_shown_runs(tmp_path: Path) -> None:
    if not shutil.which("shellcheck") or not shutil.which("cloud-init"):
        pytest.skip("`bootstrap check` needs shellcheck and cloud-init (tests/run installs them)")
    template, env = setup(tmp_path)
    wrapper = _network_of_its_own()
    blocks = every_block()
    works = [tmp_path / f"block{i}" for i in range(len(blocks))]
    for work in works:  # each block in a fresh copy: one block's files never meet another's
        shutil.copytree(template, work, symlinks=True)
    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2))) as pool:
        found = pool.map(lambda block, work: run_block(block, work, env, wrapper), blocks, works)
        problems = [problem for block in found for problem in block]
    assert not problems, "\n\n".join(problems)


# Linked before it exists: issue 26's boot report (part 5) writes the picture. Listed so that the
# test says when it has come (then remove it from here).
PENDING: dict[str, str] = {}  # a page a doc links to before it exists: its path, and what makes it


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_between_the_pages_resolves() -> None:
    broken, came = [], []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # https: and the like: not ours to hold
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            shown = file.relative_to(REPO).as_posix() if file.is_relative_to(REPO) else str(file)
            if shown in PENDING:
                came += [shown] if file.exists() else []
                continue
            if not file.is_file():
                broken.append(f"{page.name}: {target}")
            elif anchor and anchor not in {_anchor(h) for h in re.findall(r"^#+ (.+)$", file.read_text(), re.M)}:
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, broken
    assert not came, f"now present: remove from PENDING {came}"


def test_the_targets_page_has_every_distro_and_every_size_limit() -> None:
    """docs/targets.md's tables are read from the registries by hand: held to them here."""
    from bootstrap.distro import all_distros
    from bootstrap.targets import TARGET_RECORDS

    page = (REPO / "docs" / "targets.md").read_text()
    for name in all_distros():
        assert f"| `{name}`" in page, name
    for name, record in TARGET_RECORDS.items():
        row = next((line for line in page.splitlines() if line.startswith(f"| `{name}` | ")
                    and ("bytes" in line or "none" in line)), "")  # fmt: skip
        limit = f"{record.size.limit:,} bytes" if record.size.limit else "none"
        assert limit in row, (name, limit, row)
