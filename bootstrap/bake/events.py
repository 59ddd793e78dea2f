"""Progress of long operations: plain lines for people, or one JSON object per line for CI logs."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, TextIO

FAILURES = frozenset({"failed", "cleanup-failed"})  # what -q still says: errors only


class Events:
    def __init__(self, as_json: bool = False, stream: TextIO | None = None, quiet: bool = False):
        self.as_json = as_json
        self.quiet = quiet  # -q: failures only, on the stream; every event is kept in history all the same
        self.stream = stream or sys.stderr
        self.history: list[dict[str, Any]] = []
        self.lock = threading.Lock()  # parallel bakes (rebuild -j) share one stream: whole lines only
        self.profile = ""

    def for_profile(self, profile: str) -> Events:
        """The same stream, every line prefixed with the profile and every record carrying it: a
        rebuild's bakes run in parallel, and a line must say whose it is."""
        scoped = Events.__new__(type(self))
        scoped.__dict__.update(self.__dict__)
        scoped.profile = profile
        return scoped

    def emit(self, event: str, message: str, **fields: Any) -> None:
        if self.profile:
            fields.setdefault("profile", self.profile)
            if not message.startswith(f"{self.profile}: "):
                message = f"{self.profile}: {message}"
        record = {"event": event, "time": round(time.time(), 3), "message": message, **fields}
        with self.lock:
            self.history.append(record)
            if not self.quiet or event in FAILURES:
                self.write(record)

    def write(self, record: dict[str, Any]) -> None:
        if self.as_json:
            print(json.dumps(record, sort_keys=False, default=str), file=self.stream, flush=True)
        else:
            print(f"bake: {record['message']}", file=self.stream, flush=True)


class Quiet(Events):
    def __init__(self) -> None:
        super().__init__(stream=sys.stderr)

    def write(self, record: dict[str, Any]) -> None:
        pass
