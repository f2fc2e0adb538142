"""URL placeholders read back into call_trigger_data."""

from __future__ import annotations

from osvi_pipeline.lib.url_templates import url_fields


def test_path_and_query_placeholders() -> None:
    assert url_fields("/leads/{{crm_id}}/calls", "/leads/lead_42/calls", None) == {
        "crm_id": "lead_42"}
    assert url_fields("/leads/{{crm_id}}/calls?c={{meta.campaign_id}}", "/leads/a%20b/calls",
                      "c=june&x=1") == {"crm_id": "a b", "meta": {"campaign_id": "june"}}


def test_unresolved_placeholders_are_absent() -> None:
    assert url_fields("/leads/{{crm_id}}/calls", "/leads/{{crm_id}}/calls", None) == {}


def test_a_path_that_does_not_fit_is_none() -> None:
    assert url_fields("/leads/{{crm_id}}/calls", "/other/x", None) is None
