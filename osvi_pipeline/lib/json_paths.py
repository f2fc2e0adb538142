"""Leaf paths of the long field tables, and rebuilding a JSON object from its leaves.

A path is DuckDB's `json_tree` full key without the leading `$.`:
- object keys made of ASCII letters, digits and `_`, starting with a letter, are written bare
  and joined with `.`: `appointment.date`, `crm_id`;
- any other key (dots, spaces, quotes, a leading `_` or digit, non-Latin letters, empty) is
  written in double quotes, with `\\` and `"` escaped by a backslash: `"customer name"`,
  `"a.b"`, `"_matched_condition"`, `"नाम"`, `"say \\"hi\\""`;
- array elements are `[i]`: `reminders[0].channel`.
So every path names exactly one position, and `rebuild` inverts the flattening exactly.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from typing import Any

Segment = str | int  # an object key, or an array index


def parse_path(path: str) -> list[Segment]:
    segments: list[Segment] = []
    position = 0
    expect_key = True  # the path starts with a key (sections are objects)
    while position < len(path):
        char = path[position]
        if char == "[":
            end = path.index("]", position)
            segments.append(int(path[position + 1:end]))
            position = end + 1
        elif char == "." and not expect_key:
            position += 1
            expect_key = True
            continue
        elif char == '"':
            key, position = _quoted_key(path, position + 1)
            segments.append(key)
        else:
            end = position
            while end < len(path) and path[end] not in '.["':
                end += 1
            segments.append(path[position:end])
            position = end
        expect_key = False
    return segments


def _quoted_key(path: str, position: int) -> tuple[str, int]:
    chars: list[str] = []
    while path[position] != '"':
        if path[position] == "\\":
            position += 1
        chars.append(path[position])
        position += 1
    return "".join(chars), position + 1


def rebuild(leaves: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The object whose leaves are `(path, value as JSON text)`."""
    root: dict[str, Any] = {}
    for path, value in leaves:
        segments = parse_path(path)
        container: Any = root
        for segment, following in itertools.pairwise(segments):
            container = _child(container, segment, [] if isinstance(following, int) else {})
        _assign(container, segments[-1], json.loads(value))
    return root


def _child(container: Any, segment: Segment, empty: list[Any] | dict[str, Any]) -> Any:
    if isinstance(segment, int):
        while len(container) <= segment:
            container.append(None)
        if container[segment] is None:
            container[segment] = empty
        return container[segment]
    return container.setdefault(segment, empty)


def _assign(container: Any, segment: Segment, value: Any) -> None:
    if isinstance(segment, int):
        while len(container) <= segment:
            container.append(None)
    container[segment] = value
