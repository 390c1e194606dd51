"""Locations in a parsed JSON document, for tests that plant or change values at each of them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def objects(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The location (keys and indexes from ``node``) of every object in ``node``, itself included,
    in document order."""
    if isinstance(node, dict):
        yield path
        for key, child in node.items():
            yield from objects(child, (*path, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from objects(child, (*path, i))
