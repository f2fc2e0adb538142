-- call_trigger_fields: what triggered each call (the API request body, or the campaign CSV
-- row's columns).
-- incremental: call_log_id
-- Grain: one row per call x leaf path.
select
    call_log_id,
    path,
    value,
    value_type,
    value_text,
    value_number,
    value_bool
from section_leaves
where section = 'call_trigger_data'
