"""cloud-init's own schema validator on every #cloud-config part.

cloud-init is usually installed for the system Python (Debian's package), not for ours. In
order of preference: import it here; else one batched call into a Python that can import it;
else ``cloud-init schema --config-file`` once per part. A whole MIME file is not accepted by
the validator (measured on 22.4): callers pass single cloud-config parts.

The Python that runs it is isolated (``-I``) in a private folder (hermetic.py): run from a checkout,
a ``yaml.py`` or a ``cloudinit/`` folder there would otherwise be imported first, as the CI user.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from .. import hermetic
from ..errors import ToolMissing
from . import Finding
from .cache import FindingsCache, key

# Runs inside a Python that has cloudinit: reads a JSON list of documents, prints a JSON list
# of [[path, message], ...] per document. Handles 22.4 (tuples) and later (SchemaProblem).
_HELPER = r"""
import json, sys
import yaml
from cloudinit.config.schema import SchemaValidationError, get_schema, validate_cloudconfig_schema
schema = get_schema()
out = []
for text in json.load(sys.stdin):
    problems = []
    if not text.startswith("#cloud-config"):
        problems.append(["", "needs to begin with #cloud-config"])
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problems.append(["", "YAML: %s" % exc])
        config = None
    if isinstance(config, dict):
        try:
            validate_cloudconfig_schema(config, schema, strict=True)
        except SchemaValidationError as exc:
            problems += [[str(p[0]), str(p[1])] for p in exc.schema_errors]
    elif config is not None:
        problems.append(["", "cloud-config must be a mapping"])
    out.append(problems)
json.dump(out, sys.stdout)
"""


class ValidatorMissing(ToolMissing):
    """cloud-init's schema validator is not installed."""


@cache
def _python_with_cloudinit() -> str | None:
    for exe in (sys.executable, "/usr/bin/python3"):
        if shutil.which(exe) or exe == sys.executable:
            probe = hermetic.run(hermetic.python(exe, "-c", "import cloudinit.config.schema, yaml"), timeout=60)
            if probe.returncode == 0:
                return exe
    return None


def available() -> bool:
    return _python_with_cloudinit() is not None or shutil.which("cloud-init") is not None


def validate(documents: list[tuple[str, str]], findings_cache: FindingsCache | None = None) -> list[Finding]:
    """Validate ``(where, text)`` cloud-config documents; one finding per schema error."""
    return [finding for found in validate_each(documents, findings_cache) for finding in found]


def validate_each(documents: list[tuple[str, str]], findings_cache: FindingsCache | None = None) -> list[list[Finding]]:
    """Each document's findings. Each distinct document is validated once, all in one call into
    cloud-init, or read from the cache; write_files contents (the bulk of our parts, and only
    ever checked for being strings) do not take part in the key."""
    if not documents:
        return []
    store = findings_cache or FindingsCache()
    shapes = {text: _shape(text) for _, text in documents}
    keys = {shape: key("cloud-init-schema", _identity(), shape) for shape in dict.fromkeys(shapes.values())}
    answers: dict[str, list[list[str]]] = {}
    for shape, digest in keys.items():
        if (cached := store.get(digest)) is not None:
            answers[shape] = cached
    todo = [shape for shape in keys if shape not in answers]
    if todo:
        try:
            fresh = dict(zip(todo, _validate_texts(todo), strict=True))
        except hermetic.ToolFailed as failed:  # said on each part, and not cached: the next run asks again
            fresh = {shape: [["", f"could not be validated: {failed}"]] for shape in todo}
        else:
            for shape, problems in fresh.items():
                store.put(keys[shape], problems)
        answers |= fresh
    return [[Finding("error", "cloud-init-schema", f"{where}{':' + path if path else ''}", message)
             for path, message in answers[shapes[text]]] for where, text in documents]  # fmt: skip


@lru_cache(maxsize=64)
def read_part(text: str) -> tuple[bool, Any]:
    """(parsed, data): the part as cloud-init reads it (yaml.safe_load), once per distinct text; the
    same part reaches the checks of several targets. Callers must not change the data."""
    import yaml

    try:
        return True, yaml.safe_load(text)
    except yaml.YAMLError:
        return False, None


def _shape(text: str) -> str:
    """The document with each write_files content emptied: what the schema sees of it, as cloud-init
    reads it. Anything that is not plain YAML holding a mapping is passed on as it is."""
    import yaml

    parsed, data = read_part(text)
    if not text.startswith("#cloud-config") or not parsed:
        return text
    if not isinstance(data, dict) or not isinstance(data.get("write_files"), list):
        return text
    files = [{**entry, "content": ""} if isinstance(entry, dict) and isinstance(entry.get("content"), str) else entry
             for entry in data["write_files"]]  # fmt: skip
    return "#cloud-config\n" + yaml.safe_dump({**data, "write_files": files}, sort_keys=True)


@cache
def _identity() -> str:
    """Which cloud-init answers, found without starting it: its version file's path, size and time
    (in the order _python_with_cloudinit looks: this Python, then the system's)."""
    import glob
    import importlib.util

    spec = importlib.util.find_spec("cloudinit")
    candidates = [Path(spec.origin).parent / "version.py"] if spec and spec.origin else []
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/python3*/dist-packages/cloudinit/version.py"))]
    for path in candidates:
        if path.is_file():
            stat = path.stat()
            return f"{path}:{stat.st_size}:{stat.st_mtime_ns}"
    return f"cloud-init command {shutil.which('cloud-init')}"


def _validate_texts(texts: list[str]) -> list[list[list[str]]]:
    """[[path, message], ...] per text, from cloud-init itself."""
    python = _python_with_cloudinit()
    if python is not None:
        proc = hermetic.run(hermetic.python(python, "-c", _HELPER), input=json.dumps(texts), timeout=120,
                            memory_mb=hermetic.CHECKER_MEMORY_MB)  # fmt: skip
        if proc.returncode == 0:
            return [[[str(path), str(message)] for path, message in problems] for problems in json.loads(proc.stdout)]
    if shutil.which("cloud-init") is None:
        raise ValidatorMissing("cloud-init", "cloud-init")
    results = []
    for text in texts:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as handle:
            handle.write(text)
            handle.flush()
            proc = hermetic.run(["cloud-init", "schema", "--config-file", handle.name], timeout=120,
                                memory_mb=hermetic.CHECKER_MEMORY_MB)  # fmt: skip
        message = (proc.stderr or proc.stdout).strip().replace(handle.name, "the part")
        results.append([["", message]] if proc.returncode != 0 else [])
    return results
