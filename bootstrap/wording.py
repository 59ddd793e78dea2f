"""Counted nouns, said right: '1 step', '2 steps', '1 environment variable'."""

from __future__ import annotations


def count(number: int, noun: str, plural: str | None = None) -> str:
    return f"{number} {noun if number == 1 else plural or noun + 's'}"
