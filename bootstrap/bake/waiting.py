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
          maximum: float = 20.0, sleep: Callable[[float], None] = interrupts.sleep) -> T:  # fmt: skip
    """Run ``call``, retrying errors that ``transient`` accepts (throttling, 5xx) with jittered backoff."""
    delay = first
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as exc:
            if attempt == attempts or not transient(exc):
                raise
        sleep(delay * (0.5 + random.random() / 2))
        delay = min(delay * 2, maximum)
    raise AssertionError("unreachable")
