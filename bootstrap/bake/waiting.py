"""Polling with backoff and retries of transient errors: no fixed sleeps, every wait bounded."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from .. import console, interrupts
from ..console import GuestReport
from ..errors import BackendError

if TYPE_CHECKING:
    from .backend import Backend, Instance

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


HEARTBEAT = 30.0  # seconds of a wait without a word before it says it is still waiting


def wait_for_guest(backend: Backend, instance: Instance, wanted: tuple[str, ...], timeout: float,
                   progress: Callable[[str], None] | None = None,
                   watch: Callable[[str], None] | None = None) -> GuestReport:  # fmt: skip
    """The waiting policy, once for every backend: a result line among ``wanted`` ends the wait (a
    failure always does), except for a bake ("sealed"), whose disk is final only once the machine has
    also powered off; a machine that stops or goes without a result ends it too; so does ``timeout``.
    ``watch`` sees the whole console at each look, before it is judged (a bake keeps its layers)."""
    seen = {"text": ""}
    start = said = time.monotonic()

    def check() -> GuestReport | None:
        nonlocal said
        text = backend.console(instance)
        if progress:
            for line in text[len(seen["text"]) :].splitlines():
                if "bootstrap: step" in line or "BOOTSTRAP-RESULT" in line or "bootstrap: layer" in line:
                    progress(line.strip())
                    said = time.monotonic()
            if time.monotonic() - said >= HEARTBEAT:  # a long wait is never silent
                last = next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "(nothing yet)")
                progress(f"still waiting for {instance.role} {instance.id} ({time.monotonic() - start:.0f} s); "
                         f"its console says: {last[-200:]}")  # fmt: skip
                said = time.monotonic()
        seen["text"] = text
        if watch:
            watch(text)
        found = console.report(text, wanted)
        if found and (found.result == "failed" or "sealed" not in wanted):
            return found
        if console.panic(text) is not None:  # dead: no result will ever come, whatever the machine's state
            return GuestReport("panicked", None, console.steps(text), text)
        state = backend.state(instance)
        if state == "stopped":
            return found or GuestReport("stopped", None, console.steps(text), text)
        if state == "gone":
            return GuestReport("gone", None, console.steps(text), text)
        return None

    try:
        return poll(check, timeout=timeout, what=f"{instance.role} {instance.id}", first=backend.poll_first,
                    maximum=backend.poll_maximum)  # fmt: skip
    except WaitTimeout:
        return GuestReport("timeout", None, console.steps(seen["text"]), seen["text"])
