-- data_capture_fields: the values OSVI extracted per call (the agent's Data Extraction tab).
-- incremental: call_log_id
-- Grain: one row per call x captured field (nested values: one row per leaf path).
select
    call_log_id,
    path as field,
    value,
    value_type,
    value_text,
    value_number,
    value_bool
from section_leaves
where section = 'data_capture'
