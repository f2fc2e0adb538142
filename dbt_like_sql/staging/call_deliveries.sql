-- call_deliveries: every stored delivery that can become a call, with its call columns and
-- its sections parsed out of the body.
-- materialized: incremental(delivery_id)
-- tests: unique(delivery_id), not_null(call_log_id)
-- Grain: one row per delivery (a call delivered three times has three rows).
-- A delivery qualifies when its body is a JSON object with a call_log_id; the rest is listed
-- in rejected_deliveries with the reason. Custom Template deliveries are read through their
-- normalized_body (the Auto body the template stands for, see osvi_pipeline/lib/templates.py).
with parsed as (
    -- One parse per body: from_json reads every top-level key the model needs at once
    -- (json_extract would parse the body again for each key).
    select
        delivery_id,
        received_at,
        received_day,
        integration,
        call_log_id,
        coalesce(synthetic_id, false) as synthetic_id,
        from_json(coalesce(normalized_body, body), '{
            "agent_name": "VARCHAR", "phone_number": "VARCHAR", "call_status": "VARCHAR",
            "call_type": "VARCHAR", "call_summary": "VARCHAR", "data_capture": "JSON",
            "structured_output": "JSON", "call_trigger_data": "JSON"
        }') as doc
    from deliveries
    where parse_error is null
      and kind is distinct from 'call_status'  -- attempts, see call_attempts
      and coalesce(normalized_body, body) is not null
      and call_log_id is not null
),

sections as (
    -- A section counts only when it is an object: OSVI omits disabled or empty ones. from_json
    -- hands a JSON value back minified (a JSON null as NULL), so an object is the text that
    -- starts with `{`, known without parsing the section again as json_type did.
    select
        *,
        case when starts_with(doc.data_capture::varchar, '{') then doc.data_capture end
            as data_capture,
        case when starts_with(doc.structured_output::varchar, '{') then doc.structured_output end
            as structured_output,
        case when starts_with(doc.call_trigger_data::varchar, '{') then doc.call_trigger_data end
            as call_trigger_data
    from parsed
),

extracted as (
    -- Every key read from a section in one json_extract_string each (a list of paths parses
    -- the section once; a call per key parsed it once per key). The campaign keys come last,
    -- in OSVI_CAMPAIGN_KEYS order.
    select
        *,
        json_extract_string(
            call_trigger_data,
            ['$.phone_number', '$.crm_id', '$.person_name']
                || list_transform(getvariable('campaign_keys'), lambda key: '$.' || key)
        ) as trigger_values,
        json_extract_string(structured_output, ['$._matched_condition', '$.intent'])
            as output_values
    from sections
)

select
    e.delivery_id,
    e.received_at,
    e.received_day,
    e.integration,
    e.call_log_id,
    e.synthetic_id,
    e.doc.agent_name,
    coalesce(e.doc.phone_number, e.trigger_values[1]) as phone_number,
    e.doc.call_status,
    e.doc.call_type,
    e.doc.call_summary,
    -- the first campaign key with a non-empty value
    list_filter(e.trigger_values[4:], lambda value: coalesce(value, '') <> '')[1] as campaign,
    e.trigger_values[2] as crm_id,
    e.trigger_values[3] as person_name,
    e.output_values[1] as matched_condition,
    e.output_values[2] as intent,
    e.data_capture,
    e.structured_output,
    e.call_trigger_data
from extracted as e
