"""The explorer's query-string parameters: what is accepted, and the 400 that names the rest."""

from __future__ import annotations

from datetime import date

import pytest

from osvi_explorer.filters import BadParameter, parse_call_filters, parse_range, wants_json

TODAY = date(2026, 12, 6)


def test_the_default_range_is_the_last_seven_days() -> None:
    assert parse_range({}, TODAY) == (date(2026, 11, 30), TODAY)
    assert parse_range({"end": "2026-11-10"}, TODAY) == (date(2026, 11, 4), date(2026, 11, 10))


@pytest.mark.parametrize(("params", "name"), [
    ({"start": "2026-13-01"}, "start"), ({"end": "yesterday"}, "end"),
    ({"start": "2026-12-06", "end": "2026-12-01"}, "end"), ({"start": "20261201"}, "start"),
    ({"page": "0"}, "page"), ({"page": "-1"}, "page"), ({"page": "1e3"}, "page"),
    ({"sort": "phone_number; drop table calls"}, "sort"), ({"order": "up"}, "order"),
    ({"campaign": "x" * 201}, "campaign"), ({"q": "a\x00b"}, "q"), ({"agent": "\n"}, "agent"),
])
def test_a_bad_value_names_its_parameter(params: dict[str, str], name: str) -> None:
    with pytest.raises(BadParameter) as error:
        parse_call_filters(params, TODAY)
    assert error.value.name == name and str(error.value).startswith(f"{name}: ")


def test_filters_keep_text_as_given_and_links_keep_the_filters() -> None:
    filters = parse_call_filters({"campaign": "दिवाली ऑफ़र", "condition": "(none)",
                                  "q": "50% off_", "page": "3", "sort": "campaign"}, TODAY)
    assert (filters.campaign, filters.condition, filters.q) == ("दिवाली ऑफ़र", "(none)", "50% off_")
    assert filters.offset == 100
    assert ("campaign", "दिवाली ऑफ़र") in filters.query_pairs()
    assert ("page", "3") in filters.query_pairs() and ("page", "1") not in filters.query_pairs(
        page=1)


def test_format_is_html_or_json() -> None:
    assert wants_json({"format": "json"}) and not wants_json({})
    with pytest.raises(BadParameter, match="format"):
        wants_json({"format": "xml"})
