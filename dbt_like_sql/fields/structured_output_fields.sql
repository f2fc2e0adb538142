-- structured_output_fields: the Output Schema's values per call, with the condition that
-- matched for conditional schemas.
-- materialized: incremental(call_log_id)
-- tests: not_null(call_log_id), not_null(path)
-- Grain: one row per call x leaf path (dotted, arrays as [i]: reminders[0].channel; see
-- macros/json_leaves.sql).
with docs as (
    select call_log_id, matched_condition, structured_output as doc
    from calls
    where structured_output is not null
)

select
    call_log_id,
    matched_condition,
    path,
    value,
    value_type,
    value_text,
    value_number,
    value_bool
from json_leaves(docs)
-- A conditional schema's label is the matched_condition column, not a field (the top-level
-- key `_matched_condition`, quoted in a path because it starts with `_`).
where path <> '"_matched_condition"'
