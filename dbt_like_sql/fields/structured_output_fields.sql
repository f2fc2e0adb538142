-- structured_output_fields: the Output Schema's values per call, with the condition that
-- matched for conditional schemas.
-- materialized: incremental(call_log_id)
-- tests: not_null(call_log_id), not_null(path)
-- Grain: one row per call x leaf path (dotted, arrays as [i]: reminders[0].channel; see
-- macros/json_leaves.sql).
-- call_date is the call's (as in calls): a day's fields are read without a join, and a
-- micro-batch finds its calls' rows by it (the table is kept in its order).
with docs as (
    select call_log_id, call_date, matched_condition, structured_output as doc
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
    value_bool,
    call_date
from json_leaves(docs)
-- A conditional schema's label is the matched_condition column, not a field (the top-level
-- key `_matched_condition`, quoted in a path because it starts with `_`).
where path <> '"_matched_condition"'
