"""The semantic tier (issue 22): every built-in profile, every example and the corpus in
tests/semantic/corpus/, rendered for every target and booted in the sandbox the way that target's
cloud boots it (tests/semantic/machine.py), on a machine whose tools fail where a real machine's
would (tests/semantic/emulate.py). A profile passes when its first boot completes (status.json
result "ok", through any reboots its steps ask for) and a second boot is ok too, each boot leaving
every service it started running as intended, nothing written where a mount then hid it, and the
second boot installing nothing; or, when its file says ``# expect: refused: MESSAGE``, when
validate refuses it (exit 2) with that message and no target renders it. Each corpus profile is also
put through ``bootstrap check``: no errors, and only the warnings ACCEPTED_FINDINGS lists.

What fails today and why is KNOWN_GAPS: each entry is a strict xfail, so a fix that makes one pass
turns it into a failure here, to be removed from the list.

    bash tests/run -m semantic            # this tier alone (about 2.5 minutes on 2 cores)
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bootstrap.errors import ProfileError
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile
from bootstrap.targets import render

from ..sandbox import available
from .cases import REPO, TARGETS, Case, cases, header, spec_for
from .machine import Booter, Machine

pytestmark = [
    pytest.mark.semantic,
    pytest.mark.sandbox,
    pytest.mark.skipif(available() is not None, reason=str(available())),
]

CASES = cases()


# --- what fails today, and why ------------------------------------------------------------------------
@dataclass(frozen=True)
class Gap:
    """A known failure: why, and what its failure shows (a strict xfail that fails any other way fails)."""

    reason: str
    shows: str  # a regular expression found in the failure


AWS_ON_GCE = Gap(
    "an AWS reference (aws-ssm/aws-secretsmanager secret, EBS volume, s3/efs mount) on the gce target: a "
    "GCE machine has no EC2 metadata service, AWS role, EBS volume or EFS route; validate accepts it "
    "(check warns, with the cloud check now coming), the boot fails at that step",
    r"Unable to locate credentials|cannot tell the AWS region|could not read aws-"
    r"|Amazon_Elastic_Block_Store_\S+ did not attach|could not mount fs-\S+\.efs\."
    r"|/\S+ is not mounted 60s after starting bootstrap-mount",
)
GCP_ON_EC2 = Gap(
    "a GCP reference (gcp-secretmanager secret, gce_disk, gcs mount) on the ec2 target: an EC2 machine "
    "has no GCE metadata server or service account, nor the GCE disk; validate accepts it (check warns, "
    "with the cloud check now coming), the boot fails at that step",
    r"could not read gcp-secretmanager|google-\S+ did not attach within"
    r"|/\S+ is not mounted 60s after starting bootstrap-mount",
)
GCE_DISK_IN_COMMAND = Gap(
    "the profile's own command formats a disk by its GCE name (/dev/disk/by-id/google-... or "
    "scsi-0Google_...): on EC2 there is no such disk; the author's shell, nothing bootstrap can "
    "tell",
    r"ended 'failed' at step cmd-format-",
)
EC2_DISK_IN_COMMAND = Gap(
    "the profile's own command formats the EC2 instance store by its name "
    "(/dev/disk/by-id/nvme-Amazon_EC2_NVMe_Instance_Storage_...): on GCE there is no such disk; "
    "the author's shell, nothing bootstrap can tell",
    r"ended 'failed' at step cmd-format-",
)
# (case id pattern, where: a target, "check", "boot" (every target) or "*" (every target and check), gap)
KNOWN_GAPS: list[tuple[str, str, Gap]] = [
    # built-in profiles and examples
    ("built-in:cpu-datascience", "gce", AWS_ON_GCE),
    ("built-in:gpu-pytorch", "gce", AWS_ON_GCE),
    ("built-in:team-shared", "gce", AWS_ON_GCE),
    ("example:gpu-trainer", "gce", AWS_ON_GCE),
    # the corpus: the cloud the profile names is not the target's
    ("corpus:gpu-a100-trainer", "gce", AWS_ON_GCE),
    ("corpus:gpu-vllm-inference", "gce", AWS_ON_GCE),
    ("corpus:gpu-notebook-ubuntu2404", "gce", AWS_ON_GCE),
    ("corpus:secrets-private-repo", "gce", AWS_ON_GCE),
    ("corpus:conda-from-files", "gce", AWS_ON_GCE),
    ("corpus:conda-url-refresh", "gce", AWS_ON_GCE),
    ("corpus:buckets-aws", "gce", AWS_ON_GCE),
    ("corpus:verify-everything", "gce", AWS_ON_GCE),
    ("corpus:mount-then-clone", "gce", AWS_ON_GCE),
    ("corpus:gpu-rapids-gcp", "ec2", GCP_ON_EC2),
    ("corpus:jupyter-token-gcp", "ec2", GCP_ON_EC2),
    ("corpus:buckets-gcp", "ec2", GCP_ON_EC2),
    ("corpus:disk-prep-local-ssd-xfs", "ec2", GCE_DISK_IN_COMMAND),
    ("corpus:disk-prep-uuid", "ec2", GCE_DISK_IN_COMMAND),
    ("corpus:disk-prep-instance-store", "gce", EC2_DISK_IN_COMMAND),
    ("corpus:secrets-registry-login", "gce", AWS_ON_GCE),
    ("corpus:secrets-pip-index", "ec2", GCP_ON_EC2),
    ("corpus:team-research-lab", "gce", AWS_ON_GCE),
]


class KnownGap(Exception):
    """The failure a KNOWN_GAPS entry expects (its strict xfail raises only this)."""


# bootstrap check: the warnings judged fine, per corpus profile (substrings of "check: message"). Besides
# these, a cloud warning ("... is AWS's: on Google Cloud (target gce) its step fails at boot") is fine
# where KNOWN_GAPS says the boot on that target fails for that reason: the warning is right.
ACCEPTED_FINDINGS: dict[str, list[str]] = {
    # true: the builder would build conda without the private index the first-boot command writes
    "secrets-pip-index": ["bake: bake would refuse: conda is baked into the image"],
}
CLOUD_GAPS = (AWS_ON_GCE, GCP_ON_EC2)


def gaps(case: Case, target: str) -> list[Gap]:
    where = {"boot": TARGETS, "*": (*TARGETS, "check")}
    return [
        gap
        for pattern, targets, gap in KNOWN_GAPS
        if fnmatch.fnmatch(case.id, pattern) and target in where.get(targets, (targets,))
    ]


def params(targets: tuple[str, ...], only: str | None = None) -> list:
    found = []
    for case in CASES:
        if only and case.kind != only:
            continue
        for target in targets:
            known = gaps(case, target)
            reason = "; ".join(gap.reason for gap in known)
            marks = [pytest.mark.xfail(strict=True, raises=KnownGap, reason=reason)] if known else []
            found.append(pytest.param(case, target, id=f"{case.id}-{target}", marks=marks))
    return found


# --- outcomes, computed in parallel ---------------------------------------------------------------------
@dataclass
class Outcome:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join([*self.problems, "", *self.notes])


RENDER = threading.Lock()  # bootstrap's own caches are not made for threads: one render at a time


def expect_refused(case: Case, message: str) -> Outcome:
    outcome = Outcome()
    run = subprocess.run(
        [sys.executable, "-m", "bootstrap", "validate", str(case.file)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    said = run.stdout + run.stderr
    if run.returncode != 2 or message not in said:
        outcome.problems.append(f"validate exited {run.returncode} without {message!r}:\n{said[-3000:]}")
    return outcome


def boot_outcome(case: Case, target: str, base: Path) -> Outcome:
    head = header(case.file)
    if head.expect == "refused":
        outcome = expect_refused(case, head.refused_with)
        with RENDER:
            try:
                render(build_plan(load_profile(str(case.file))), target)
                outcome.problems.append(f"{target} rendered it")
            except ProfileError as exc:
                if head.refused_with not in str(exc):
                    outcome.problems.append(f"render refused it for another reason: {exc}")
        return outcome
    outcome = Outcome()
    with RENDER:
        try:
            profile = load_profile(str(case.file))
            data = render(build_plan(profile), target).data
        except ProfileError as exc:
            outcome.problems.append(f"refused by validation: {exc}")
            return outcome
    machine = Machine(base / f"{case.kind}-{case.name}-{target}", spec_for(profile.data, head, target))
    booter = Booter(machine, target, data)
    first = booter.first_boot()
    outcome.notes.append(f"machine: {machine.spec}")
    if not _boot_ok(outcome, machine, first, "first boot"):
        return outcome
    machine.clear_calls()
    second = booter.boot()
    if _boot_ok(outcome, machine, second, "second boot"):
        installs = [c for c in machine.calls("apt-get") if "install" in c]
        if installs:
            outcome.problems.append(f"the second boot installed packages again: {installs}")
    if not outcome.problems:
        shutil.rmtree(machine.base, ignore_errors=True)
    return outcome


def _boot_ok(outcome: Outcome, machine: Machine, boot, what: str) -> bool:  # type: ignore[no-untyped-def]
    if boot.result != "ok":
        step = f" at step {boot.failed_step}" if boot.failed_step else ""
        outcome.problems.append(f"{what} (boot {boot.number}) ended {boot.result!r}{step}")
        outcome.notes.append(_tail(boot.output, boot.failed_step))
        return False
    ours = {p.name for p in machine.path("/etc/systemd/system").glob("*.service")}
    for unit, state in sorted(machine.units().items()):
        if unit in ours and (state["state"] != "active" or state.get("why")):
            outcome.problems.append(f"after the {what}, {unit} is {state['state']}: {state.get('why')}")
    for hidden in machine.hidden_by_mounts():
        outcome.problems.append(
            f"after the {what}, mounting {hidden['source']} on {hidden['mountpoint']} hid "
            f"what was written there before: {hidden['hidden']}"
        )
    return not outcome.problems


def _tail(output: str, step: str) -> str:
    lines = output.splitlines()
    if step:
        mine = [line for line in lines if line.startswith(f"[{step}]") or f"step {step} " in line]
        lines = mine or lines
    return "\n".join(lines[-40:])


def check_outcome(case: Case) -> Outcome:
    outcome = Outcome()
    env = {**os.environ, "NO_COLOR": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "bootstrap", "check", str(case.file), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    if run.returncode not in (0, 1):
        outcome.problems.append(f"check exited {run.returncode}: {(run.stdout + run.stderr)[-3000:]}")
        return outcome
    accepted = ACCEPTED_FINDINGS.get(case.name, [])
    for report in json.loads(run.stdout):
        for finding in report.get("findings") or []:
            said = f"{finding['check']}: {finding['message']}"
            where = f"{finding['where']}: {finding['severity']}: {said}"
            target = re.search(r"\(target ([a-z0-9-]+)\)", finding["message"])
            if finding["severity"] == "error":
                outcome.problems.append(f"error: {where}")
            elif finding["check"] == "cloud" and target and any(g in CLOUD_GAPS for g in gaps(case, target[1])):
                outcome.notes.append(f"accepted (a known cloud gap): {where}")
            elif not any(a in said for a in accepted):
                outcome.problems.append(f"a warning not judged fine (ACCEPTED_FINDINGS): {where}")
    return outcome


class Outcomes:
    """Every selected case of this module, computed by a few threads (the work is the sandbox's
    processes), each test waiting only for its own."""

    def __init__(self, items: list[pytest.Item], base: Path):
        self.base = base
        self.pool = ThreadPoolExecutor(max_workers=max(2, min(4, (os.cpu_count() or 2) + 1)))
        self.futures: dict[tuple[str, str], Future[Outcome]] = {}
        # the slow ones first: they finish while the quick ones fill the gaps
        wanted = []
        for item in items:
            callspec = getattr(item, "callspec", None)
            if callspec is not None and item.module.__name__ == __name__:  # type: ignore[attr-defined]
                wanted.append((callspec.params["case"], callspec.params["target"]))
        for case, target in sorted(wanted, key=lambda w: w[1] != "check"):
            self.submit(case, target)

    def submit(self, case: Case, target: str) -> Future[Outcome]:
        key = (case.id, target)
        if key not in self.futures:
            work = (
                (lambda: check_outcome(case)) if target == "check" else (lambda: boot_outcome(case, target, self.base))
            )
            self.futures[key] = self.pool.submit(work)
        return self.futures[key]

    def get(self, case: Case, target: str) -> Outcome:
        return self.submit(case, target).result()


@pytest.fixture(scope="module")
def outcomes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    found = Outcomes(request.session.items, tmp_path_factory.mktemp("semantic"))
    yield found
    found.pool.shutdown(wait=True, cancel_futures=True)


# --- the tests -------------------------------------------------------------------------------------------
def judge(case: Case, target: str, outcome: Outcome, what: str) -> None:
    """Pass, fail, or raise KnownGap when the failure is one KNOWN_GAPS expects here."""
    if not outcome.problems:
        return
    said = f"{what}:\n{outcome}"
    shown = [gap.reason for gap in gaps(case, target) if re.search(gap.shows, str(outcome))]
    if shown:
        raise KnownGap("; ".join(shown) + "\n" + said)
    raise AssertionError(said)


@pytest.mark.parametrize(("case", "target"), params(TARGETS))
def test_boots_on_every_target(case: Case, target: str, outcomes: Outcomes) -> None:
    judge(case, target, outcomes.get(case, target), f"{case.path} on {target}")


CHECKED = [p for p in params(("check",), only="corpus") if header(p.values[0].file).expect == "ok"]


@pytest.mark.parametrize(("case", "target"), CHECKED)
def test_check_finds_nothing_wrong(case: Case, target: str, outcomes: Outcomes) -> None:
    judge(case, target, outcomes.get(case, target), f"bootstrap check {case.path}")


def test_the_corpus_covers_what_issue_22_asks() -> None:
    """At least 20 realistic profiles, each kind of box the issue names among them."""
    corpus = [c for c in CASES if c.kind == "corpus"]
    texts = {c.name: c.file.read_text() for c in corpus}
    assert len([c for c in corpus if header(c.file).expect == "ok"]) >= 20
    wanted = {
        "a GPU box with CUDA and conda torch": lambda t: "nvidia:" in t and "cuda:" in t and "pytorch" in t,
        "a team box with a shared conda group": lambda t: t.count("- name:") >= 4 and "group:" in t,
        "disk preparation before the mounts": lambda t: "mkfs." in t and "before: [mounts]" in t,
        "a secret read at first boot": lambda t: "/run/bootstrap/secrets/" in t and "first_boot:" in t,
        "a service in a prepared folder": lambda t: "working_directory:" in t and "install -d" in t,
        "conda from environment files": lambda t: "file: envs/" in t,
        "jupyter with a token secret": lambda t: "token_secret:" in t,
        "idle shutdown": lambda t: "idle_shutdown:" in t,
        "bucket mounts": lambda t: "type: s3" in t or "type: gcs" in t,
        "hostname and timezone": lambda t: "hostname:" in t and "timezone:" in t,
        "files": lambda t: "files:" in t and "source:" in t,
        "verify checks": lambda t: "verify:" in t,
        "a refusal": lambda t: "# expect: refused" in t,
    }
    missing = [what for what, has in wanted.items() if not any(has(t) for t in texts.values())]
    assert missing == []
    envs = list((Path(__file__).parent / "corpus" / "envs").glob("*.yml"))
    assert all("pip:" in p.read_text() for p in envs), "every environment file has a pip section"
