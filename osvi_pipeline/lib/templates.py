"""Inverting OSVI Custom Template bodies back into the call's sections (pure logic).

OSVI renders a template of `{{expression}}` placeholders (its webhook documentation): a value
that is exactly one expression keeps the raw type (objects stay objects); expressions embedded
in a longer string are interpolated as text; expressions that do not resolve become null. This
module reads a received body back through the template:

- a sole expression's value is the source field itself; `null` means absent;
- whole sections (`{{structured_output}}`) restore the section, `_matched_condition` included;
- an embedded expression is recovered as text when the literal text around it splits the
  string in exactly one way; otherwise the string is kept under its template key and the slot
  is reported as ambiguous (once, by the caller, not per row);
- literal values (`"source": "osvi"`) carry no data and are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from osvi_core.dotted import get_dotted, set_dotted
from osvi_core.integrations import PLACEHOLDER_RE

SOURCES = ("call_info", "call_summary", "data_capture", "structured_output", "call_trigger_data")
Location = tuple[str | int, ...]


@dataclass(frozen=True)
class Slot:
    location: Location  # where the value sits in the body
    expressions: tuple[str, ...]
    literals: tuple[str, ...] = ()  # for embedded slots: the text around the expressions

    @property
    def sole(self) -> bool:
        return not self.literals

    @property
    def splittable(self) -> bool:
        """Adjacent expressions (`{{a}}{{b}}`) can never be told apart."""
        return all(part for part in self.literals[1:-1])


@dataclass
class Inverted:
    sections: dict[str, Any] = field(default_factory=dict)
    unrecovered: dict[str, str] = field(default_factory=dict)  # template key path -> text
    ambiguous_slots: list[Location] = field(default_factory=list)


def compile_template(text: str) -> list[Slot]:
    """Every place in the template whose value carries at least one expression."""
    slots: list[Slot] = []
    _collect(orjson.loads(text), (), slots)
    return slots


def _collect(node: Any, location: Location, slots: list[Slot]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _collect(value, (*location, key), slots)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _collect(value, (*location, index), slots)
    elif isinstance(node, str) and PLACEHOLDER_RE.search(node):
        parts = PLACEHOLDER_RE.split(node)  # literal, expression, literal, ...
        expressions, literals = tuple(parts[1::2]), tuple(parts[0::2])
        if literals == ("", ""):
            slots.append(Slot(location, expressions))
        else:
            slots.append(Slot(location, expressions, literals))


def invert(slots: list[Slot], body: dict[str, Any]) -> Inverted:
    result = Inverted()
    for slot in slots:
        found, value = _lookup(body, slot.location)
        if not found or value is None:
            continue  # OSVI's rule: an expression that did not resolve is null
        if slot.sole:
            _assign(result.sections, slot.expressions[0], value)
            continue
        captured = _split(slot, value) if isinstance(value, str) else None
        if captured is None:
            result.unrecovered[_location_text(slot.location)] = (
                value if isinstance(value, str) else orjson.dumps(value).decode())
            result.ambiguous_slots.append(slot.location)
            continue
        for expression, text in zip(slot.expressions, captured, strict=True):
            if text != "null":
                _assign(result.sections, expression, text)
    return result


def _split(slot: Slot, text: str) -> tuple[str, ...] | None:
    """The expressions' texts when the literals split `text` in exactly one way."""
    if not slot.splittable:
        return None
    literals = [re.escape(part) for part in slot.literals]
    lazy, greedy = "(.*?)".join(literals), "(.*)".join(literals)
    # fullmatch, not ^...$: `$` would also match before a trailing newline of the value.
    first, last = re.fullmatch(lazy, text, re.DOTALL), re.fullmatch(greedy, text, re.DOTALL)
    if first is None or last is None or first.groups() != last.groups():
        return None
    return first.groups()


def _lookup(body: Any, location: Location) -> tuple[bool, Any]:
    node = body
    for step in location:
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return False, None
        elif not isinstance(node, dict) or step not in node:
            return False, None
        node = node[step]
    return True, node


def _assign(sections: dict[str, Any], expression: str, value: Any) -> None:
    """Put `value` where `expression` (e.g. structured_output.appointment.date) points."""
    source, _, rest = expression.partition(".")
    if source not in SOURCES:
        return
    if source == "call_summary" or not rest:
        if isinstance(value, dict) and isinstance(sections.get(source), dict):
            sections[source].update(value)
        else:
            sections[source] = value
        return
    set_dotted(sections.setdefault(source, {}), rest, value)


def _location_text(location: Location) -> str:
    return ".".join(str(step) for step in location)


def resolve(call: dict[str, Any], expression: str) -> Any:
    return get_dotted(call, expression)


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def render_template(text: str, call: dict[str, Any]) -> Any:
    """What OSVI sends for `call` (keys: call_info, call_summary, data_capture, ...): a sole
    expression keeps its raw type, embedded ones interpolate as text, unresolved ones are
    null. Used by `osvi integrations test` and the tests."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        if isinstance(node, str):
            whole = PLACEHOLDER_RE.fullmatch(node)
            if whole:
                return resolve(call, whole[1])
            if PLACEHOLDER_RE.search(node):
                return PLACEHOLDER_RE.sub(lambda m: _as_text(resolve(call, m[1])), node)
        return node

    return walk(orjson.loads(text))


def render_url(url_template: str, trigger: dict[str, Any]) -> str:
    """OSVI fills URL placeholders from the call trigger data and leaves unresolved ones."""

    def fill(match: re.Match[str]) -> str:
        value = resolve(trigger, match[1].removeprefix("call_trigger_data."))
        return match[0] if value is None else _as_text(value)

    return PLACEHOLDER_RE.sub(fill, url_template)
