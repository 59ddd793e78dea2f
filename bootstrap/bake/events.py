"""Progress of long operations: plain lines for people, or one JSON object per line for CI logs."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO


class Events:
    def __init__(self, as_json: bool = False, stream: TextIO | None = None):
        self.as_json = as_json
        self.stream = stream or sys.stderr
        self.history: list[dict[str, Any]] = []

    def emit(self, event: str, message: str, **fields: Any) -> None:
        record = {"event": event, "time": round(time.time(), 3), "message": message, **fields}
        self.history.append(record)
        if self.as_json:
            print(json.dumps(record, sort_keys=False, default=str), file=self.stream, flush=True)
        else:
            print(f"bake: {message}", file=self.stream, flush=True)


class Quiet(Events):
    def __init__(self) -> None:
        super().__init__(stream=sys.stderr)

    def emit(self, event: str, message: str, **fields: Any) -> None:
        self.history.append({"event": event, "message": message, **fields})
