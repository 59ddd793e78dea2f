"""docs/profiles.md, generated from the profile JSON Schema (`bootstrap schema --markdown`).

One section per top-level key, in the schema's order: its description, an example, and a table
of its fields (nested objects and list items flattened to dotted names). A test keeps the file
in the repository equal to this output.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from .yamldump import ReadableDumper

HEADER = """\
# Profile reference

Generated from the profile JSON Schema by `bootstrap schema --markdown > docs/profiles.md`; do
not edit by hand. Editors that read `# yaml-language-server: $schema=...` (VS Code's YAML
extension, Neovim's yamlls...) show the same descriptions and check keys as you type:
`bootstrap schema > profile.schema.json`, or point at `schema/profile.schema.json` in this
repository. Merge rules for `extends` are in [devops.md](devops.md#profiles).
"""


def markdown(schema: dict[str, Any]) -> str:
    out = [HEADER]
    for key, node in schema["properties"].items():
        out.append(f"\n## `{key}`\n\n{_text(node.get('description', ''))}\n")
        if "examples" in node:
            example = yaml.dump({key: node["examples"][0]}, Dumper=ReadableDumper, sort_keys=False, width=100)
            out.append(f"\n```yaml\n{example}```\n")
        rows = list(_fields(node, ""))
        if rows:
            out.append("\n| field | type | default | description | example |\n| --- | --- | --- | --- | --- |\n")
            out += [f"| `{name}` | {kind} | {default} | {text} | {example} |\n" for name, kind, default, text, example
                    in rows]  # fmt: skip
    return "".join(out)


def _fields(node: dict[str, Any], prefix: str) -> Any:
    container = node.get("items", node) if node.get("type") == "array" else node
    for variant in [container, *container.get("anyOf", [])]:
        for name, sub in variant.get("properties", {}).items():
            dotted = f"{prefix}{name}" + ("[]" if sub.get("type") == "array" and _has_fields(sub.get("items", {}))
                                          else "")  # fmt: skip
            default = next((f"`{_inline(d['default'])}`" for d in _defaults(variant, name) if "default" in d), "")
            example = f"`{_inline(sub['examples'][0])}`" if sub.get("examples") else ""
            yield dotted, _kind(sub), default, _text(sub.get("description", "")), example
            if _has_fields(sub) or _has_fields(sub.get("items", {})):
                yield from _fields(sub, dotted + ".")


def _has_fields(node: dict[str, Any]) -> bool:
    """An object with named fields, or a choice among forms one of which is (a command: text or a mapping)."""
    return "properties" in node or any("properties" in variant for variant in node.get("anyOf", []))


def _defaults(container: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """Where ``name``'s default may be declared: its own node, or a ``then`` that depends on a sibling."""
    nodes = [container["properties"][name]]
    return nodes + [e["then"]["properties"][name] for e in container.get("allOf", [])
                    if name in e.get("then", {}).get("properties", {})]  # fmt: skip


def _kind(node: dict[str, Any]) -> str:
    if "enum" in node:
        return " / ".join(f"`{v}`" for v in node["enum"])
    kind = node.get("type")
    if kind == "array":
        return f"list of {_kind(node.get('items', {}))}"
    if "anyOf" in node:
        return " or ".join(_kind(v) for v in node["anyOf"])
    return str(kind or "any")


def _inline(value: Any) -> str:
    """One line for a table cell: JSON, which is also YAML, keeps newlines and quotes visible."""
    return json.dumps(value, ensure_ascii=False).replace("|", "\\|")


def _text(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")
