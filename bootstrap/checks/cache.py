"""A content-addressed cache of what an external checker said about one input.

The key is a hash of everything the answer depends on: the input's bytes, the checker's identity
(version, and the binary's path and size) and its options, and any file the input pulls in (lib.sh).
A hit returns exactly what the checker said on the miss, so a cached run reports the same findings,
byte for byte, as a cold one. Entries live under ``$XDG_CACHE_HOME/bootstrap/findings``; an unreadable,
corrupt or unwritable cache is only slower, never wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..paths import cache_dir, private_cache

FORMAT = "1"  # bump when the stored answers change shape


def key(*parts: str | bytes) -> str:
    digest = hashlib.sha256(FORMAT.encode())
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)  # length-prefixed: parts cannot run together
    return digest.hexdigest()


class FindingsCache:
    def __init__(self, root: Path | None = None, enabled: bool = True):
        self.enabled = enabled and os.environ.get("BOOTSTRAP_NO_CHECK_CACHE", "") == ""
        if root is None and self.enabled:
            try:  # findings decide whether check passes: only from a folder nobody else can write
                root = private_cache("findings")
            except OSError:
                self.enabled = False
        self.root = root or cache_dir("findings")
        self.hits = self.misses = 0

    def _path(self, digest: str) -> Path:
        return self.root / digest[:2] / f"{digest}.json"

    def get(self, digest: str) -> Any | None:
        if not self.enabled:
            return None
        try:
            found = json.loads(self._path(digest).read_text())
        except (OSError, ValueError):
            self.misses += 1
            return None
        self.hits += 1
        return found

    def put(self, digest: str, answer: Any) -> None:
        if not self.enabled:
            return
        path = self._path(digest)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".partial") as handle:
                json.dump(answer, handle)
            os.replace(handle.name, path)  # readers see the whole answer or none
        except OSError:
            pass
