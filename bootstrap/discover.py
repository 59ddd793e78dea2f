"""Which YAML files are profiles. A team's repository holds others beside them (conda's
environment.yml, CI workflows, compose files); `rebuild` over a folder and the pre-commit hooks
(which pass every changed ``profiles/*.yml``) leave those alone, and say so.

A profile is a mapping with no conda-environment keys and with a ``name`` or another profile key.
A broken or misspelt profile still counts as one, so that it fails loudly instead of being skipped.
"""

from __future__ import annotations

from pathlib import Path

import yaml

# Top-level keys of a conda environment file (environment.yml, envs/ds.yml): never a profile's.
CONDA_FILE_KEYS = frozenset({"dependencies", "channels", "prefix", "variables"})


def not_a_profile(path: Path) -> str:
    """Why the YAML file at ``path`` is not a profile ("" when it is one)."""
    from .errors import ProfileError
    from .schema import profile_schema
    from .yamlload import load_file

    try:
        data = load_file(str(path))
    except ProfileError:  # our strict reading (e.g. a CI file's `on:` key is a boolean to YAML)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.stat().st_size < 1 << 20 else None
        except (yaml.YAMLError, UnicodeDecodeError, OSError):
            return ""  # broken YAML named like a profile: let validation report it
        if not isinstance(data, dict) or "name" in data:
            return ""
    if not isinstance(data, dict):
        return "not a mapping of profile keys: not a profile"
    conda = sorted(CONDA_FILE_KEYS & set(data))
    if conda:
        return f"a conda environment file ({', '.join(conda)}), not a profile"
    if "name" not in data and not set(data) & set(profile_schema()["properties"]):
        return "no top-level name nor any profile key: not a profile"
    return ""


def profile_files(folder: Path, pattern: str = "**/*.y*ml") -> tuple[list[Path], list[tuple[Path, str]]]:
    """The profiles under ``folder`` matching ``pattern``, and the other YAML files with the reason."""
    candidates = sorted(p for p in folder.glob(pattern) if p.suffix in (".yaml", ".yml") and p.is_file())
    profiles, others = [], []
    for path in candidates:
        reason = not_a_profile(path)
        if reason:
            others.append((path, reason))
        else:
            profiles.append(path)
    return profiles, others
