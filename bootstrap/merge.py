"""Deterministic deep merge of profiles, keeping every value's mark.

Rules (documented in docs/devops.md, "Merging with `extends`"):

* mappings merge key by key, recursively; a child value of ``null`` removes the key;
* scalars (and anything whose type differs between parent and child) take the child's value;
* lists of named items (the schema's ``x-merge-key``: users by ``name``, files by ``path``)
  merge item by item, parent order first, new items appended;
* other lists append the child's items, skipping scalars already present.
"""

from __future__ import annotations

from typing import Any

from .schema import subschema
from .yamlload import MDict, MList


def merge(parent: Any, child: Any, schema: dict[str, Any] | None) -> Any:
    if isinstance(parent, dict) and isinstance(child, dict):
        return _merge_mappings(parent, child, schema)
    if isinstance(parent, list) and isinstance(child, list):
        key = (schema or {}).get("x-merge-key")
        if key:
            return _merge_named(parent, child, key, subschema(schema, 0))
        return _merge_lists(parent, child)
    return child


def _merge_mappings(parent: dict, child: dict, schema: dict[str, Any] | None) -> MDict:
    result = MDict(mark=getattr(child, "mark", None) or getattr(parent, "mark", None))
    for source in (parent, child):
        for key, value in source.items():
            if source is child and value is None:
                result.pop(key, None)
                continue
            if source is child and key in result:
                value = merge(result[key], value, subschema(schema, key))
            result[key] = value
            _copy_marks(source, key, result)
    return result


def _copy_marks(source: Any, key: str, target: MDict) -> None:
    if isinstance(source, MDict):
        if key in source.key_marks:
            target.key_marks[key] = source.key_marks[key]
        if key in source.value_marks:
            target.value_marks[key] = source.value_marks[key]


def _item_mark(items: Any, index: int) -> Any:
    marks = getattr(items, "item_marks", [])
    return marks[index] if index < len(marks) else None


def _merge_lists(parent: list, child: list) -> MList:
    result = MList(mark=getattr(child, "mark", None) or getattr(parent, "mark", None))
    for source in (parent, child):
        for index, item in enumerate(source):
            if source is child and not isinstance(item, dict | list) and item in result:
                continue
            result.append(item)
            result.item_marks.append(_item_mark(source, index))
    return result


def _merge_named(parent: list, child: list, key: str, item_schema: dict[str, Any] | None) -> MList:
    result = MList(mark=getattr(child, "mark", None) or getattr(parent, "mark", None))
    position: dict[Any, int] = {}
    for source in (parent, child):
        for index, item in enumerate(source):
            name = item.get(key) if isinstance(item, dict) else None
            if not isinstance(name, str | int):
                name = None
            if source is child and name is not None and name in position:
                at = position[name]
                result[at] = merge(result[at], item, item_schema)
                result.item_marks[at] = _item_mark(source, index)
                continue
            if name is not None:
                position[name] = len(result)
            result.append(item)
            result.item_marks.append(_item_mark(source, index))
    return result
