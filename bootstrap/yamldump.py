"""YAML as bootstrap writes it for people and for cloud-init alike."""

from __future__ import annotations

import yaml


class ReadableDumper(yaml.SafeDumper):
    """Readable YAML: multi-line strings as literal blocks, keys in our order."""


# YAML reads these as line breaks (a raw U+0085 in a literal block comes back as "\n"): values holding
# them go double-quoted, where the emitter escapes them, so every target carries the same bytes.
YAML_LINE_BREAKS = ("\x85", "\u2028", "\u2029")


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = '"' if any(c in value for c in YAML_LINE_BREAKS) else "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


ReadableDumper.add_representer(str, _str)
