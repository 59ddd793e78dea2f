"""Steps run in order, each owning its clean-up, undone in reverse (Packer's multistep habit).

A step's ``run`` does its work and records in the shared state what it made (a machine, an image)
before anything can unwind; it may halt the sequence early with nothing wrong (an image that already
exists, a dry run). Whatever happens, success, failure or signal, every step that started has its
``cleanup`` run, last first, shielded from signals: a clean-up undoes only what the state says is
still its own (a machine not yet retired, an image not yet promoted), and says what it could not
undo rather than raise. A backend failure inside a step is told as that step's (BakeStepError).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from .. import interrupts
from ..errors import BackendError
from .backend import BakeStepError

S = TypeVar("S")
T = TypeVar("T")


class Action(enum.Enum):
    CONTINUE = "continue"
    HALT = "halt"  # done early (nothing to build, or only planned): the later steps do not run


class Step(Generic[S]):
    name: str  # what a failure names: "bake failed at step NAME"
    timing: str | None = None  # the timings key its seconds add to (None: not timed)

    def run(self, state: S) -> Action:
        raise NotImplementedError

    def cleanup(self, state: S) -> None:
        """Undo what ``state`` says is still this step's; never raises."""


def run_steps(steps: Sequence[Step[S]], state: S, timings: dict[str, float]) -> Action:
    """Run ``steps`` over ``state``; then every started step's clean-up, in reverse, success or not."""
    started: list[Step[S]] = []
    try:
        for step in steps:
            started.append(step)
            mark = time.monotonic()
            action = as_step(step.name, lambda: step.run(state))  # noqa: B023 (called at once)
            if step.timing:
                timings[step.timing] = timings.get(step.timing, 0.0) + time.monotonic() - mark
            if action is Action.HALT:
                return action
        return Action.CONTINUE
    finally:
        with interrupts.shielded():  # a signal now waits for this: nothing half undone
            for step in reversed(started):
                step.cleanup(state)


def as_step(name: str, call: Callable[[], T]) -> T:
    """``call``, a backend's failure told as the failure of step ``name``."""
    try:
        return call()
    except BakeStepError:
        raise
    except BackendError as exc:
        raise BakeStepError(name, str(exc)) from exc
