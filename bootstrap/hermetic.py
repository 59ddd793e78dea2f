"""Every program bootstrap starts goes through here, started hermetically.

bootstrap renders and checks pull requests in CI and in pre-commit on developers' machines, often
as root, inside a checkout someone else wrote. A program started from there must take nothing from
that checkout: a ``yaml.py`` beside the profile must not be imported by the cloud-init validator,
a ``bootstrap/`` folder must not replace the metadata relay, a ``.shellcheckrc`` must not switch
shellcheck's options. So every child process is started:

* in a private working folder (made fresh by this process, mode 0700), unless the caller needs a
  folder of its own (git inside the repository it reads, dpkg-scanpackages in the repository it
  indexes), and then only that folder;
* with an environment reduced to ``ENV_KEEP`` plus what the caller passes (no ``PYTHONPATH``,
  ``BASH_ENV``, ``LD_PRELOAD``, ``GIT_*`` or credentials of the CI job);
* with Python in isolated mode (``-I``: neither the working folder nor the script's folder on the
  import path, no ``PYTHON*`` variables, no user site): a Python started without it is refused;
* bounded in time (every call names a timeout) and, for checkers that read attacker text, in
  memory (an address-space limit through util-linux's ``prlimit``).

``tests/test_lint.py`` fails when code under ``bootstrap/`` starts a process any other way.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from .errors import BackendError

ENV_KEEP = (
    "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "TERM",
    "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
)  # fmt: skip
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CHECKER_MEMORY_MB = 2048  # shellcheck, bash -n, cloud-init's validator: far above what a real script needs
_PYTHON = re.compile(r"^python[0-9.]*$")
_private: Path | None = None
_private_lock = threading.Lock()


class ToolFailed(BackendError):
    """A program bootstrap started failed to run or ran out of its time (exit 3 at the CLI)."""

    def __init__(self, command: str, reason: str):
        self.command = command
        self.reason = reason
        super().__init__(f"{command}: {reason}")


def private_dir() -> Path:
    """This process's private, empty working folder for children (removed at exit)."""
    from .localvm.leftovers import scratch_dir, sweep

    global _private
    with _private_lock:  # checkers start programs from several threads
        if _private is None or not _private.is_dir():
            sweep()  # the folders of runs killed with SIGKILL
            _private = scratch_dir("bootstrap-cwd-")  # mode 0700, ours alone; swept after a SIGKILL
            atexit.register(shutil.rmtree, _private, True)
        return _private


def python(executable: str | Path, *arguments: str) -> list[str]:
    """The command line of a Python started isolated."""
    return [str(executable), "-I", *arguments]


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """What a child sees of our environment: ``ENV_KEEP`` and ``extra``, nothing else."""
    env = {name: os.environ[name] for name in ENV_KEEP if name in os.environ}
    env.setdefault("PATH", DEFAULT_PATH)
    return {**env, **(extra or {})}


def command(argv: Sequence[str | Path], memory_mb: int | None = None) -> list[str]:
    """``argv`` checked (a Python must be isolated) and wrapped in its memory bound."""
    words = [str(word) for word in argv]
    if not words:
        raise ValueError("no command")
    if _PYTHON.match(Path(words[0]).name) and "-I" not in words[1:2]:
        raise ValueError(f"{words[0]} must run isolated: build its command line with hermetic.python()")
    if memory_mb is not None and (prlimit := shutil.which("prlimit")):
        words = [prlimit, f"--as={memory_mb * 1024 * 1024}", "--", *words]
    return words


def run(argv: Sequence[str | Path], *, timeout: float, input: str | bytes | None = None, text: bool = True,
        cwd: Path | None = None, env: Mapping[str, str] | None = None,
        memory_mb: int | None = None) -> subprocess.CompletedProcess[Any]:  # fmt: skip
    """Run to completion, output captured. A program that cannot start or outlives ``timeout``
    raises ToolFailed; its exit status is the caller's to judge. Its TMPDIR is a fresh folder of
    ours, removed after it: whatever it leaves there (mmdebstrap's folders when a signal stops it)
    goes with it. Stopped by a signal or an error of ours, it gets SIGTERM first, to clean up."""
    name = Path(str(argv[0])).name
    scratch = Path(tempfile.mkdtemp(prefix="tmp-", dir=private_dir()))
    try:
        stdin = subprocess.PIPE if input is not None else subprocess.DEVNULL
        proc = subprocess.Popen(command(argv, memory_mb), stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=text, cwd=cwd or private_dir(),
                                env=environment({"TMPDIR": str(scratch), **(env or {})}))  # fmt: skip
    except OSError as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        raise ToolFailed(name, f"could not start: {exc.strerror or exc}") from None
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc)
        raise ToolFailed(name, f"gave no answer within {timeout:g} s (stopped)") from None
    except BaseException:
        _stop(proc)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _stop(proc: subprocess.Popen[Any], grace: float = 10) -> None:
    """SIGTERM, a moment to clean up, then SIGKILL."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def start(argv: Sequence[str | Path], *, stdout: int | IO[Any] | None = subprocess.DEVNULL,
          stderr: int | IO[Any] | None = subprocess.PIPE, cwd: Path | None = None,
          env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:  # fmt: skip
    """Start a long-running program (QEMU); the caller bounds its life and reaps it."""
    try:
        return subprocess.Popen(command(argv), stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                cwd=cwd or private_dir(), env=environment(env))  # fmt: skip
    except OSError as exc:
        raise ToolFailed(Path(str(argv[0])).name, f"could not start: {exc.strerror or exc}") from None
