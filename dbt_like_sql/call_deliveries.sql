-- call_deliveries: every stored delivery that can become a call, with its call columns and
-- its sections parsed out of the body.
-- incremental: received_day
-- Grain: one row per delivery (a call delivered three times has three rows).
-- A delivery qualifies when its body is a JSON object with a call_log_id; the rest is listed
-- in rejected_deliveries with the reason. Custom Template deliveries are read through their
-- normalized_body (the Auto body the template stands for, see osvi_pipeline/templates.py).
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
    select
        *,
        -- A section counts only when it is an object: OSVI omits disabled or empty ones.
        case when json_type(doc.data_capture) = 'OBJECT' then doc.data_capture end
            as data_capture,
        case when json_type(doc.structured_output) = 'OBJECT' then doc.structured_output end
            as structured_output,
        case when json_type(doc.call_trigger_data) = 'OBJECT' then doc.call_trigger_data end
            as call_trigger_data
    from parsed
)

select
    s.delivery_id,
    s.received_at,
    s.received_day,
    s.integration,
    s.call_log_id,
    s.synthetic_id,
    s.doc.agent_name,
    coalesce(s.doc.phone_number,
             json_extract_string(s.call_trigger_data, '$.phone_number')) as phone_number,
    s.doc.call_status,
    s.doc.call_type,
    s.doc.call_summary,
    -- The first campaign key (in OSVI_CAMPAIGN_KEYS order) with a non-empty value, all keys
    -- read by one json_extract_string (a join with the key list cost twice as much).
    list_filter(
        json_extract_string(
            s.call_trigger_data,
            list_transform(getvariable('campaign_keys'), lambda key: '$.' || key)
        ),
        lambda value: coalesce(value, '') <> ''
    )[1] as campaign,
    json_extract_string(s.call_trigger_data, '$.crm_id') as crm_id,
    json_extract_string(s.call_trigger_data, '$.person_name') as person_name,
    json_extract_string(s.structured_output, '$._matched_condition') as matched_condition,
    json_extract_string(s.structured_output, '$.intent') as intent,
    s.data_capture,
    s.structured_output,
    s.call_trigger_data
from sections as s
