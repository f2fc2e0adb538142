-- structured_output_fields: the Output Schema's values per call, with the condition that
-- matched for conditional schemas.
-- incremental: call_log_id
-- Grain: one row per call x leaf path (dotted, arrays as [i]: reminders[0].channel).
select
    call_log_id,
    matched_condition,
    path,
    value,
    value_type,
    value_text,
    value_number,
    value_bool
from section_leaves
where section = 'structured_output'
