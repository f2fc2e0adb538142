"""Template inversion against a renderer that implements OSVI's documented semantics."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from osvi_pipeline.lib.templates import compile_template, invert
from tests.support.templates import render

SEED_TEMPLATE = """{
  "customer_name": "{{data_capture.name}}",
  "intent": "{{structured_output.intent}}",
  "slot_date": "{{structured_output.appointment.date}}",
  "phone": "{{call_info.phone_number}}",
  "all_output": "{{structured_output}}",
  "summary": "{{call_summary}}",
  "source": "osvi"
}"""


def test_the_seed_template_inverts_to_the_sections() -> None:
    call = {"call_info": {"phone_number": "+919876543210"},
            "call_summary": "Confirmed for tomorrow.",
            "data_capture": {"name": "John Doe"},
            "structured_output": {"_matched_condition": "confirmed", "intent": "confirm",
                                  "appointment": {"date": "2026-06-12", "time": "10:00"}}}
    inverted = invert(compile_template(SEED_TEMPLATE), render(SEED_TEMPLATE, call))
    assert inverted.sections == call
    assert inverted.unrecovered == {} and inverted.ambiguous_slots == []


def test_null_means_absent_and_literals_are_ignored() -> None:
    template = '{"a": "{{data_capture.missing}}", "b": "{{call_summary}}", "source": "osvi"}'
    body = render(template, {"call_summary": "hi"})
    assert body == {"a": None, "b": "hi", "source": "osvi"}
    assert invert(compile_template(template), body).sections == {"call_summary": "hi"}


def test_embedded_expressions_are_recovered_when_unambiguous() -> None:
    template = '{"line": "Agent {{call_info.agent_name}} says: {{call_summary}}"}'
    slots = compile_template(template)
    clear = invert(slots, {"line": "Agent ava says: call back at 5"})
    assert clear.sections == {"call_info": {"agent_name": "ava"},
                              "call_summary": "call back at 5"}
    trailing = invert(slots, {"line": "Agent ava says: bye\n"})
    assert trailing.sections["call_summary"] == "bye\n", "a trailing newline is kept"
    doubtful = invert(slots, {"line": "Agent ava says: x says: y"})
    assert doubtful.sections == {} and doubtful.unrecovered == {
        "line": "Agent ava says: x says: y"}
    adjacent = invert(compile_template('{"x": "{{call_info.a}}{{call_info.b}}"}'), {"x": "12"})
    assert adjacent.ambiguous_slots == [("x",)]


def test_nested_template_positions() -> None:
    template = ('{"meta": {"ids": ["{{call_info.call_log_id}}", "{{call_trigger_data.crm_id}}"]},'
                ' "n": "{{data_capture.count}}"}')
    call = {"call_info": {"call_log_id": "c-9"}, "call_trigger_data": {"crm_id": "lead_1"},
            "data_capture": {"count": 3}}
    assert invert(compile_template(template), render(template, call)).sections == call


json_leaf = (st.none() | st.booleans() | st.integers(-10**6, 10**6)
             | st.text(max_size=10))
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.from_regex(r"[a-z]{1,5}", fullmatch=True), inner,
                                            max_size=3), max_leaves=8)
keys = st.from_regex(r"[a-z]{1,6}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(capture=st.dictionaries(keys, json_value, max_size=5),
       output=st.dictionaries(keys, json_value, max_size=5),
       summary=st.text(max_size=30) | st.sampled_from(["x] y", "null", "", "] "]),
       agent=st.text(alphabet="abcxyz", min_size=1, max_size=8))
def test_every_field_the_template_carries_comes_back(capture: dict[str, Any],
                                                     output: dict[str, Any], summary: str,
                                                     agent: str) -> None:
    fields = {f"dc_{key}": f"{{{{data_capture.{key}}}}}" for key in capture}
    fields["so"] = "{{structured_output}}"
    fields["line"] = "[{{call_info.agent_name}}] {{call_summary}}"
    template = json.dumps(fields)
    call = {"data_capture": capture, "structured_output": output, "call_summary": summary,
            "call_info": {"agent_name": agent}}
    inverted = invert(compile_template(template), render(template, call))
    expected_capture = {key: value for key, value in capture.items() if value is not None}
    assert inverted.sections.get("data_capture", {}) == expected_capture
    assert inverted.sections.get("structured_output", {}) == output
    if "] " in summary:  # the literal text no longer splits the line one way only
        assert inverted.unrecovered == {"line": f"[{agent}] {summary}"}
        return
    assert inverted.sections["call_info"] == {"agent_name": agent}
    if summary == "null":  # indistinguishable from an unresolved expression: absent
        assert "call_summary" not in inverted.sections
    else:
        assert inverted.sections["call_summary"] == summary
