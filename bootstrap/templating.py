"""Jinja2, set up so that templates lay out and never decide, and never leak an unquoted value.

* ``StrictUndefined``: a missing variable is an error naming the template and the variable.
* Autoescape is off (this is shell, not HTML), but ``finalize`` refuses to print any plain
  string: a value reaches the output only through ``| q`` (shell-quoted) or ``| raw`` (text we
  generated or the profile author wrote as shell on purpose, e.g. ``commands``). Numbers pass.
* Profile values are data passed into templates, never compiled as templates themselves.
* The loader is a FileSystemLoader rooted at ``templates/``: it cannot escape that folder.
"""

from __future__ import annotations

import os
import shlex
from functools import cache
from typing import Any

import jinja2

from . import layout
from .errors import TemplateError
from .paths import private_cache, templates_dir


class Quoted(str):
    """Text that is safe to place in a shell script as-is."""


def shell_quote(value: Any) -> Quoted:
    text = str(value)
    if "\0" in text:
        raise TemplateError("a NUL byte cannot be represented in a shell script")
    return Quoted(shlex.quote(text))


def trusted(value: Any) -> Quoted:
    return Quoted(value)


def _finalize(value: Any) -> Any:
    if isinstance(value, Quoted | int | float) and not isinstance(value, bool):
        return value
    raise TemplateError(
        f"template printed an unquoted value {str(value)[:60]!r}: use '| q' for data, '| raw' for trusted shell"
    )


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    # Compiling ~20 templates costs tens of milliseconds on every run; cache the bytecode.
    # Bytecode is executed: only from a folder nobody else can write (paths.private_cache).
    try:
        directory = str(private_cache("jinja"))
    except OSError:
        return None
    if not os.access(directory, os.W_OK):
        return None
    return jinja2.FileSystemBytecodeCache(directory)


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
        bytecode_cache=_bytecode_cache(),
    )
    env.filters["q"] = shell_quote
    env.filters["raw"] = trusted
    env.filters["qwords"] = lambda words: Quoted(" ".join(shell_quote(w) for w in words))  # a command's argv
    env.globals["layout"] = layout  # machine paths: {{ layout.STATE_DIR | q }}
    return env


def render(template: str, **context: Any) -> str:
    try:
        return environment().get_template(template).render(**context)
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"template not found: {exc.name}") from None
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"template {template}: {exc.message}") from None
