"""SIGTERM and SIGINT clean up like an error.

CI cancels a job with SIGTERM (then SIGKILL a few seconds later); Python's default for SIGTERM
is to die on the spot, leaving builders, test machines, QEMU processes, temporary folders and
unpromoted images behind. With :func:`handle_signals`:

* the first signal raises :class:`Interrupted` in the main thread, so every ``finally`` and
  ``with`` on the way out runs, and sets :data:`CANCELLED`, which wakes every wait in other
  threads (rebuild's bakes) through :func:`sleep`, which then raises there too;
* a signal that arrives while the main thread is in a :func:`shielded` section (a clean-up, or a
  launch whose machine must be recorded before anything unwinds) is held until it ends, and
  every further signal only says that clean-up is under way: a second Ctrl-C never aborts a
  clean-up silently. SIGKILL still ends everything; `bootstrap reap`
  removes what that leaves, by its expiry tag.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from .errors import BootstrapError

CANCELLED = threading.Event()
HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_state = threading.local()
_received: list[int] = []  # signals since handle_signals began
_raised: list[int] = []  # Interrupted raised in the main thread (once per command)


class Interrupted(BootstrapError):
    """A signal asked bootstrap to stop; clean-up ran on the way out. CLI exit 128 + signal number."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}; cleaned up what this run had created")


def _shield_depth() -> int:
    return getattr(_state, "shield", 0)


def _handler(signum: int, frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    first = not _received
    _received.append(signum)
    CANCELLED.set()
    if first and _shield_depth():
        print(f"bootstrap: {name}: stopping once the current call is done, then cleaning up", file=sys.stderr,
              flush=True)  # fmt: skip
        return
    if not first:
        print(f"bootstrap: {name}: cleaning up first (machines, images, files); SIGKILL abandons the clean-up, "
              "and `bootstrap reap` then removes what it left", file=sys.stderr, flush=True)  # fmt: skip
        return
    print(f"bootstrap: {name}: stopping, cleaning up", file=sys.stderr, flush=True)
    _raised.append(signum)
    raise Interrupted(signum)


@contextmanager
def handle_signals() -> Iterator[None]:
    """Install the handlers for the duration of one command (main thread only)."""
    previous = {sig: signal.signal(sig, _handler) for sig in HANDLED}
    CANCELLED.clear()
    _received.clear()
    _raised.clear()
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        # The command is over: a later one in this process (a library caller's, a test's) starts uncancelled.
        CANCELLED.clear()
        _received.clear()
        _raised.clear()


@contextmanager
def shielded() -> Iterator[None]:
    """Work a signal must not cut short (a clean-up; a launch until its machine is recorded for
    clean-up); a signal held meanwhile is raised after it."""
    _state.shield = _shield_depth() + 1
    try:
        yield
    finally:
        _state.shield -= 1
    if not _state.shield and _received and not _raised and threading.current_thread() is threading.main_thread():
        _raised.append(_received[0])
        raise Interrupted(_received[0])


def raised_signal() -> int | None:
    """The signal :class:`Interrupted` was raised for in the main thread during this command, if any.
    A library that catches every exception (protobuf's JSON parser does) may have wrapped it."""
    return _raised[0] if _raised else None


def check() -> None:
    """Raise :class:`Interrupted` in any thread once a signal arrived, except while cleaning up."""
    if CANCELLED.is_set() and not _shield_depth():
        raise Interrupted(_received[0] if _received else signal.SIGTERM)


def sleep(seconds: float) -> None:
    """``time.sleep`` that a signal cuts short (in every thread); a real one while cleaning up, so
    that retries of a delete keep their backoff after a signal."""
    if _shield_depth():
        time.sleep(seconds)
        return
    check()
    if CANCELLED.wait(max(0.0, seconds)):
        check()
