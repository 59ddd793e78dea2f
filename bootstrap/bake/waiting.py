"""Polling with backoff and retries of transient errors: no fixed sleeps, every wait bounded."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from .. import interrupts
from ..errors import BackendError

T = TypeVar("T")


class WaitTimeout(BackendError):
    pass


def poll(check: Callable[[], T | None], *, timeout: float, what: str, first: float = 0.05,
         maximum: float = 10.0, sleep: Callable[[float], None] = interrupts.sleep) -> T:  # fmt: skip
    """Call ``check`` until it returns something other than None; back off from ``first`` to ``maximum``."""
    deadline = time.monotonic() + timeout
    delay = first
    while True:
        result = check()
        if result is not None:
            return result
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {what}")
        sleep(min(delay, remaining))
        delay = min(delay * 1.6, maximum)


def retry(call: Callable[[], T], *, transient: Callable[[Exception], bool], attempts: int = 8, first: float = 0.1,
          maximum: float = 20.0, sleep: Callable[[float], None] = interrupts.sleep, what: str = "a call",
          say: Callable[[str], None] | None = None) -> T:  # fmt: skip
    """Run ``call``, retrying errors that ``transient`` accepts (throttling, 5xx, no connection) with jittered
    backoff. Each retry is said (what failed, why it is retried, when): a backoff against an endpoint that
    does not answer lasts close to a minute, and silence for that long reads as a hang."""
    delay = first
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as exc:
            if not transient(exc):
                raise
            if attempt == attempts:
                raise RetriesExhausted(f"{what}: still failing after {attempts} attempts: {_reason(exc)}") from exc
            pause = delay * (0.5 + random.random() / 2)
            if say:
                say(f"{what}: {_reason(exc)}; a transient error, retrying in {pause:.1f}s "
                    f"(attempt {attempt} of {attempts})")  # fmt: skip
        sleep(pause)
        delay = min(delay * 2, maximum)
    raise AssertionError("unreachable")


class RetriesExhausted(BackendError):
    """A transient error that did not go away."""


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
