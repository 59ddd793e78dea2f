"""A YAML loader that keeps where every key and value came from.

Profiles are small, hand-written files whose errors must point at ``file:line:column``,
even after several profiles are merged through ``extends``. So instead of plain dicts and
lists we build :class:`MDict` / :class:`MList`, which remember the marks of their keys and
values. They are real ``dict``/``list`` subclasses, so jsonschema and the rest of the code
treat them as ordinary data.

Hostile input is refused early and cheaply: files over :data:`MAX_BYTES`, non-UTF-8 bytes,
nesting deeper than :data:`MAX_DEPTH`, alias expansion ("billion laughs") beyond
:data:`MAX_NODES` values or :data:`MAX_EXPANDED_BYTES` bytes of text, integers too long to
convert, duplicate keys and non-string keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from .errors import Mark, Problem, ProfileError

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 100_000
# Aliases repeat text without repeating bytes in the file: bound what they expand to, not only how many.
MAX_EXPANDED_BYTES = 2 * MAX_BYTES


class MDict(dict):
    """A dict that remembers the marks of its keys and values."""

    def __init__(self, *args: Any, mark: Mark | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.mark = mark
        self.key_marks: dict[str, Mark] = {}
        self.value_marks: dict[str, Mark] = {}


class MList(list):
    """A list that remembers the mark of each item."""

    def __init__(self, *args: Any, mark: Mark | None = None):
        super().__init__(*args)
        self.mark = mark
        self.item_marks: list[Mark | None] = []


def value_mark(container: Any, key: Any) -> Mark | None:
    """The mark of ``container[key]``, or of the container when the value has none."""
    if isinstance(container, MDict):
        return container.value_marks.get(key) or container.mark
    if isinstance(container, MList):
        if isinstance(key, int) and 0 <= key < len(container.item_marks):
            return container.item_marks[key] or container.mark
        return container.mark
    return None


def mark_at(root: Any, path: Iterator[Any] | list[Any], *, key: bool = False) -> Mark | None:
    """The mark of the value at ``path`` (a list of keys/indices) below ``root``.

    With ``key=True`` the mark of the last mapping key itself, which is where an
    "unknown key" problem belongs. Falls back to the nearest enclosing mark.
    """
    node, best = root, getattr(root, "mark", None)
    path = list(path)
    for i, step in enumerate(path):
        last = i == len(path) - 1
        if last and key and isinstance(node, MDict) and step in node.key_marks:
            return node.key_marks[step]
        found = value_mark(node, step)
        best = found or best
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            break
    return best


def _mark(source: str, m: yaml.Mark) -> Mark:
    return Mark(source, m.line + 1, m.column + 1)


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer refuses deep nesting before Python's stack does."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            event = self.peek_event()
            raise yaml.MarkedYAMLError(
                problem=f"nesting is deeper than {MAX_DEPTH} levels", problem_mark=event.start_mark
            )
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Builder:
    """Turns a composed YAML node graph into MDict/MList/scalars, counting expanded nodes."""

    def __init__(self, source: str):
        self.source = source
        self.count = 0
        self.expanded = 0  # bytes of scalar text, counted each time an alias repeats it
        self.constructor = yaml.SafeLoader("")  # only its scalar constructors are used
        self.problems: list[Problem] = []
        self._active: set[int] = set()

    def build(self, node: yaml.Node) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise ProfileError(
                Problem(
                    f"document expands to more than {MAX_NODES} values "
                    "(aliases repeating aliases?); refusing to expand it",
                    _mark(self.source, node.start_mark),
                )
            )
        if id(node) in self._active:
            raise ProfileError(Problem("recursive alias: a value contains itself", _mark(self.source, node.start_mark)))
        mark = _mark(self.source, node.start_mark)
        if isinstance(node, yaml.ScalarNode):
            self.expanded += len(node.value)
            if self.expanded > MAX_EXPANDED_BYTES:
                raise ProfileError(
                    Problem(
                        f"document expands to more than {MAX_EXPANDED_BYTES:,} bytes of text "
                        "(aliases repeating long values?); refusing to expand it",
                        mark,
                    )
                )
            try:
                return self.constructor.construct_object(node)
            except ValueError as exc:  # e.g. an integer of thousands of digits (Python's conversion limit)
                raise ProfileError(
                    Problem(f"cannot read this value: {exc}", mark, "quote it to keep it as text")
                ) from None
            except yaml.YAMLError as exc:  # an unknown tag such as !python/object, bad !!binary
                problem = getattr(exc, "problem", None) or str(exc)
                raise ProfileError(
                    Problem(
                        f"cannot read this value: {problem}",
                        mark,
                        "profiles use plain YAML values: remove the tag or quote the value",
                    )
                ) from None
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                result = MList(mark=mark)
                for item in node.value:
                    result.append(self.build(item))
                    result.item_marks.append(_mark(self.source, item.start_mark))
                return result
            if isinstance(node, yaml.MappingNode):
                return self._build_mapping(node, mark)
        finally:
            self._active.discard(id(node))
        raise ProfileError(Problem(f"unsupported YAML node {node.tag}", mark))

    def _build_mapping(self, node: yaml.MappingNode, mark: Mark) -> MDict:
        result = MDict(mark=mark)
        for key_node, value_node in node.value:
            key_mark = _mark(self.source, key_node.start_mark)
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.problems.append(
                    Problem("YAML merge keys ('<<') are not supported", key_mark, "use 'extends' to share settings")
                )
                continue
            key = self.build(key_node)
            if not isinstance(key, str):
                self.problems.append(
                    Problem(f"keys must be strings, got {type(key).__name__} {key!r}", key_mark, "quote the key")
                )
                continue
            if key in result:
                first = result.key_marks[key]
                self.problems.append(Problem(f"duplicate key {key!r} (first defined at line {first.line})", key_mark))
                continue
            result[key] = self.build(value_node)
            result.key_marks[key] = key_mark
            result.value_marks[key] = _mark(self.source, value_node.start_mark)
        return result


def decode(data: bytes, source: str) -> str:
    """UTF-8 text of ``data``; a clear problem pointing at the first bad byte otherwise."""
    if len(data) > MAX_BYTES:
        raise ProfileError(
            Problem(
                f"file is {len(data):,} bytes; profiles are limited to {MAX_BYTES:,} bytes",
                Mark(source, 1, 1),
                "move large content into files beside the profile and reference them with 'source'",
            )
        )
    return utf8(data, source)


def utf8(data: bytes, source: str) -> str:
    """``data`` decoded as UTF-8 (a BOM dropped); a located problem at the first bad byte otherwise.
    Every file bootstrap reads as text goes through here (see boundary.read_text)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ProfileError(
            Problem(
                f"not valid UTF-8 (byte 0x{data[exc.start]:02x})", Mark(source, line, column), "save the file as UTF-8"
            )
        ) from None


def load_text(text: str, source: str) -> Any:
    """Parse one YAML document into marked data. Raises ProfileError with every problem found."""
    try:
        loader = _BoundedLoader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p) or "invalid YAML"
        hint = None
        opened = exc.context_mark
        if opened is not None and mark is not None and exc.problem_mark is not None and opened.line != mark.line:
            # an unclosed [ or { is noticed lines later: say where it opened too
            what = next((c for word, c in (("sequence", "'['"), ("mapping", "'{'")) if word in str(exc.context)), "it")
            hint = f"{what} opened at line {opened.line + 1}, column {opened.column + 1} is not closed"
        if "\\t" in message or "'\\t'" in message or "tab" in message:
            hint = "YAML does not allow tabs for indentation; use spaces"
        elif hint is None and ("mapping values are not allowed here" in message or "but got ':'" in message):
            hint = ("a ': ' inside an unquoted value starts a new key to YAML: quote the whole value "
                    "(a command: 'echo a: b')")
        raise ProfileError(Problem(f"YAML syntax: {message}", _mark(source, mark) if mark else None, hint)) from None
    except yaml.YAMLError as exc:
        raise ProfileError(Problem(f"YAML syntax: {exc}", Mark(source, 1, 1))) from None
    if node is None:
        raise ProfileError(
            Problem("file is empty; a profile is a YAML mapping with at least 'name'", Mark(source, 1, 1))
        )
    builder = _Builder(source)
    data = builder.build(node)
    if builder.problems:
        raise ProfileError(builder.problems)
    return data


def load_file(path: str, display: str | None = None) -> Any:
    """Read and parse ``path``; ``display`` is the name used in marks (defaults to the path)."""
    source = display or path
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ProfileError(Problem(f"no such file: {path}")) from None
    except IsADirectoryError:
        raise ProfileError(Problem(f"{path} is a directory, not a profile file")) from None
    except OSError as exc:
        raise ProfileError(Problem(f"cannot read {path}: {exc.strerror}")) from None
    return load_text(decode(data, source), source)


def plain(value: Any) -> Any:
    """Marked data back to plain dicts and lists (for dumping or hashing)."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value
