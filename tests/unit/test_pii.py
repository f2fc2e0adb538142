"""Masking phone numbers and person names (pure functions of osvi_pipeline/pii.py)."""

from __future__ import annotations

import phonenumbers
from hypothesis import given
from hypothesis import strategies as st

from osvi_pipeline.lib.pii_rules import COUNTRY_CODES, PiiRules, mask_name, mask_phone, mask_text

RULES = PiiRules()


def test_a_phone_number_keeps_its_country_code_and_last_two_digits() -> None:
    assert mask_phone("+919876543210") == "+91********10"
    assert mask_phone("+14155550123") == "+1********23"
    assert mask_phone("+971501234567") == "+971********67"
    assert mask_phone("+44 20 7946 0958") == "+44********58"
    assert mask_phone("09876543210") == "********10"  # no `+`: the country is unknown


@given(code=st.sampled_from(sorted(COUNTRY_CODES)),
       national=st.text(alphabet="0123456789", min_size=4, max_size=12))
def test_the_kept_country_code_is_libphonenumbers(code: str, national: str) -> None:
    number = f"+{code}{national}"
    masked = mask_phone(number)
    assert masked == f"+{code}********{national[-2:]}"
    # The middle digits never survive: only the code and the last two are left.
    assert sum(char.isdigit() for char in masked) == len(code) + 2


def test_every_regions_example_number_keeps_the_code_libphonenumber_parses() -> None:
    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        example = phonenumbers.example_number(region)
        if example is None:
            continue
        e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
        parsed = phonenumbers.parse(e164)
        assert mask_phone(e164) == f"+{parsed.country_code}********{e164[-2:]}", region
        checked += 1
    assert checked > 200


def test_a_name_keeps_its_first_character() -> None:
    assert mask_name("John Doe") == "J***"
    assert mask_name("  प्रिया शर्मा") == "प***"
    assert mask_name("") == ""


def test_free_text_loses_numbers_and_the_known_name_but_keeps_dates_and_amounts() -> None:
    text = ("John Doe asked us to call +91 98765 43210 or 9876543210 on 2026-11-29 at 10:30 "
            "about Rs 25,000; Johnny is his brother.")
    assert mask_text(text, ["John Doe"]) == (
        "J*** D*** asked us to call +91********10 or ********10 on 2026-11-29 at 10:30 "
        "about Rs 25,000; Johnny is his brother.")


def test_keys_match_whatever_their_case_or_separators() -> None:
    assert RULES.kind_of("phone_number") == "phone"
    assert RULES.kind_of("customerName") == "name"
    assert RULES.kind_of("Customer Name") == "name"
    assert RULES.kind_of("alt_phone") == "phone"
    for not_personal in ("agent_name", "campaign_name", "unique_phones", "crm_id", "name_x"):
        assert RULES.kind_of(not_personal) is None, not_personal


def test_configured_globs_may_hold_regex_and_quote_characters() -> None:
    rules = PiiRules(phone_keys="tel.*,o'phone", name_keys="who?")
    assert rules.kind_of("tel.home") == "phone"
    assert rules.kind_of("telXhome") is None  # `.` is literal, only `*` is a wildcard
    assert rules.kind_of("o'phone") == "phone"
    assert rules.kind_of("who?") == "name"
    assert rules.kind_of("whom") is None


def test_json_is_masked_at_any_depth_and_under_lists() -> None:
    body = {"call_log_id": "9876543210123", "phone_number": "+919876543210",
            "data_capture": {"customer_name": "John Doe", "phones": ["+14155550123"],
                             "nps": 9, "contact": {"mobile": 919876543210, "name": None}},
            "call_summary": "Call back on +919876543210 please"}
    assert RULES.mask_json(body) == {
        "call_log_id": "9876543210123",  # an ID without spaces is not free text
        "phone_number": "+91********10",
        "data_capture": {"customer_name": "J***", "phones": ["+1********23"], "nps": 9,
                         "contact": {"mobile": "********10", "name": None}},
        "call_summary": "Call back on +91********10 please"}


def test_text_that_is_not_json_still_loses_its_numbers() -> None:
    assert RULES.mask_json_text('{"phone": "+919876543210"') == '{"phone": "+91********10"'
    assert RULES.mask_json_text('{"phone": "+919876543210"}') == '{"phone":"+91********10"}'


def test_free_text_in_json_loses_the_names_found_elsewhere_in_the_document() -> None:
    body = {"call_summary": "Ananya Iyer will pay on Friday.",
            "call_trigger_data": {"person_name": "Ananya Iyer"}}
    assert RULES.mask_json(body)["call_summary"] == "A*** I*** will pay on Friday."


def test_url_parts_are_masked_even_percent_encoded_and_else_kept_as_received() -> None:
    from osvi_pipeline.warehouse.masking import _mask_url_part

    assert _mask_url_part("phone=%2B919876543210&x=1") == "phone=+91********10&x=1"
    assert _mask_url_part("/webhooks/crm/leads/919876543210") == "/webhooks/crm/leads/********10"
    assert _mask_url_part("/webhooks/a%2Fb") == "/webhooks/a%2Fb"
