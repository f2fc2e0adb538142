-- call_trigger_fields: what triggered each call (the API request body, or the campaign CSV
-- row's columns).
-- incremental: call_log_id
-- Grain: one row per call x leaf path (see macros/json_leaves.sql).
select
    c.call_log_id,
    l.path,
    l.value,
    l.value_type,
    l.value_text,
    l.value_number,
    l.value_bool
from calls as c, json_leaves(c.call_trigger_data) as l
where c.call_trigger_data is not null
