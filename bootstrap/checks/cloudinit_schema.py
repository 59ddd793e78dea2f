"""cloud-init's own schema validator on every #cloud-config part.

cloud-init is usually installed for the system Python (Debian's package), not for ours. In
order of preference: import it here; else one batched call into a Python that can import it;
else ``cloud-init schema --config-file`` once per part. A whole MIME file is not accepted by
the validator (measured on 22.4): callers pass single cloud-config parts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from functools import cache

from ..errors import ToolMissing
from . import Finding

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
            probe = subprocess.run([exe, "-c", "import cloudinit.config.schema, yaml"], capture_output=True)
            if probe.returncode == 0:
                return exe
    return None


def available() -> bool:
    return _python_with_cloudinit() is not None or shutil.which("cloud-init") is not None


def validate(documents: list[tuple[str, str]]) -> list[Finding]:
    """Validate ``(where, text)`` cloud-config documents; one finding per schema error."""
    if not documents:
        return []
    python = _python_with_cloudinit()
    if python is not None:
        proc = subprocess.run([python, "-c", _HELPER], input=json.dumps([t for _, t in documents]),
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        if proc.returncode == 0:
            results = json.loads(proc.stdout)
            return [Finding("error", "cloud-init-schema", f"{where}{':' + path if path else ''}", message)
                    for (where, _), problems in zip(documents, results, strict=True)
                    for path, message in problems]  # fmt: skip
    if shutil.which("cloud-init") is None:
        raise ValidatorMissing("cloud-init", "cloud-init")
    findings = []
    for where, text in documents:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as handle:
            handle.write(text)
            handle.flush()
            proc = subprocess.run(["cloud-init", "schema", "--config-file", handle.name],
                                  capture_output=True, text=True, timeout=120)  # fmt: skip
        if proc.returncode != 0:
            message = (proc.stderr or proc.stdout).strip().replace(handle.name, where)
            findings.append(Finding("error", "cloud-init-schema", where, message))
    return findings
