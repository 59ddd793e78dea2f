"""Root's own state: the runner's lock, status and log are not for other users to open, nothing a
user does can hold the runner up for long, and every wait is bounded and said.

A lock file any user can open, even read-only, is a lock any user can take (flock needs no write
right): alice holds it and every later runner of this boot waits. A log file in a folder a group
can write (/var/log is root:syslog 0775 on Ubuntu) can be swapped for a link before root opens it.
A file alice controls (her authorized_keys as a pipe) blocks what reads it, as her, for ever.
"""

from __future__ import annotations

import os
import shlex
import time

import pytest

from ..conftest import render_text
from ..sandbox import Sandbox
from ..test_boundary_machine import plant_link, uid_of

KEY1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBexampleexampleexampleexample0 one"
KEY2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBexampleexampleexampleexample1 two"
PROFILE = """\
name: st
users: [{name: alice}]
secrets: [{name: tok, from: 'aws-ssm:/team/tok', owner: alice}]
"""
LOCK = "/run/bootstrap/runner.lock"


def as_user(user: str, script: str) -> list[str]:
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "bash", "-c", script]


@pytest.fixture
def booted(sandbox: Sandbox, write_profile) -> Sandbox:
    sandbox.answer("aws", "get-parameter", "s3cr3t")
    result = sandbox.boot(render_text(write_profile(PROFILE), "bash"))
    assert result.returncode == 0, result.stdout
    return sandbox


def test_a_user_cannot_hold_the_runners_lock(booted: Sandbox) -> None:
    # alice takes the lock (read-only is enough for flock), then a runner starts again this boot.
    script = (
        f"{shlex.join(as_user('alice', f'exec flock -s {LOCK} sleep 15'))} & sleep 1; "
        "start=$(date +%s); BOOTSTRAP_LOCK_WAIT=30 /usr/local/lib/bootstrap/runner boot; "
        'echo "runner rc=$? took=$(($(date +%s) - start))"; kill %1 2>/dev/null; wait'
    )
    result = booted.run("bash", "-c", script, timeout=60)
    took = int(result.stdout.rsplit("took=", 1)[1].split()[0])
    assert took < 5, f"alice held the runner for {took}s:\n{result.stdout}{result.stderr}"
    assert "runner rc=0" in result.stdout


def test_roots_state_is_closed_to_users_and_their_secrets_stay_reachable(booted: Sandbox) -> None:
    modes = {path: oct(booted.path(path).stat().st_mode & 0o7777) for path in
             ("/run/bootstrap", LOCK, "/var/lib/bootstrap", "/var/log/bootstrap.log")}  # fmt: skip
    assert modes == {"/run/bootstrap": "0o711", LOCK: "0o600", "/var/lib/bootstrap": "0o700",
                     "/var/log/bootstrap.log": "0o640"}  # fmt: skip
    probe = as_user(
        "alice",
        f"""
        exec 9<{LOCK} && echo lock-opened
        cat /var/lib/bootstrap/status.json >/dev/null 2>&1 && echo status-read
        cat /var/log/bootstrap.log >/dev/null 2>&1 && echo log-read
        cat /run/bootstrap/secrets/tok; echo
    """,
    )
    result = booted.run(*probe)
    assert result.stdout.split() == ["s3cr3t"], result.stdout + result.stderr  # her secret, and nothing of root's


def test_the_runner_waits_for_another_runner_boundedly_and_says_so(booted: Sandbox) -> None:
    script = (
        f"flock {LOCK} sleep 20 & sleep 1; "
        'BOOTSTRAP_LOCK_WAIT=2 /usr/local/lib/bootstrap/runner boot; echo "runner rc=$?"; kill %1; wait'
    )
    started = time.monotonic()
    result = booted.run("bash", "-c", script, timeout=60)
    assert time.monotonic() - started < 15
    assert f"waiting up to 2s for {LOCK}, held by another runner" in result.stdout, result.stdout
    assert f"gave up waiting for {LOCK} after 2s" in result.stdout
    assert "runner rc=1" in result.stdout


def test_a_pipe_in_a_users_home_does_not_stall_the_boot(sandbox: Sandbox, write_profile) -> None:
    def keys(*listed: str) -> str:
        quoted = ", ".join(f"'{k}'" for k in listed)
        return render_text(write_profile(f"name: k\nusers:\n  - {{name: alice, ssh_authorized_keys: [{quoted}]}}\n"),
                           "bash")  # fmt: skip

    assert sandbox.boot(keys(KEY1)).returncode == 0
    alice = uid_of(sandbox, "alice")
    sandbox.run(*as_user("alice", "rm -f /home/alice/.ssh/authorized_keys && mkfifo /home/alice/.ssh/authorized_keys"))
    keys_file = sandbox.path("/home/alice/.ssh/authorized_keys")
    assert keys_file.is_fifo() and keys_file.stat().st_uid == alice
    sandbox.path("/tmp/new.sh").write_text(keys(KEY1, KEY2))
    started = time.monotonic()
    result = sandbox.run("bash", "-c", "BOOTSTRAP_USER_TIMEOUT=3 bash /tmp/new.sh", timeout=60)
    assert time.monotonic() - started < 20, "the runner waited on alice's pipe"
    assert "gave up after 3s on a command run as alice" in result.stdout, result.stdout + result.stderr
    assert result.returncode != 0  # the keys step did not happen, and says so


def test_a_link_planted_at_the_log_does_not_get_roots_lines(sandbox: Sandbox, write_profile) -> None:
    # Ubuntu's /var/log is root:syslog 0775: the syslog account may rename and plant names there.
    sandbox.run("useradd", "--system", "--no-create-home", "--user-group", "syslog")
    syslog = uid_of(sandbox, "syslog")
    log = sandbox.path("/var/log")
    log.chmod(0o775)
    os.chown(log, 0, syslog)
    passwd = sandbox.read("/etc/passwd")
    plant_link(sandbox, "/var/log/bootstrap.log", "/etc/passwd", syslog)
    result = sandbox.boot(render_text(write_profile("name: l\npackages: [htop]\n"), "bash"))
    assert result.returncode == 0, result.stdout
    assert sandbox.read("/etc/passwd") == passwd, "root's log went through the syslog account's link"
    assert oct(sandbox.path("/etc/passwd").stat().st_mode & 0o777) == "0o644"
    assert "step packages (first_boot, image): ok" in sandbox.read("/var/log/bootstrap.log")
