-- data_capture_fields: the values OSVI extracted per call (the agent's Data Extraction tab).
-- materialized: incremental(call_log_id)
-- tests: not_null(call_log_id), not_null(field)
-- Grain: one row per call x captured field (nested values: one row per leaf path; see
-- macros/json_leaves.sql for the path syntax and the typed value columns). matched_condition
-- (the call's, as in calls) lets captured values be read by outcome without a join.
-- call_date is the call's (as in calls): a day's fields are read without a join, and a
-- micro-batch finds its calls' rows by it (the table is kept in its order).
with docs as (
    select call_log_id, call_date, matched_condition, data_capture as doc
    from calls
    where data_capture is not null
)

select
    call_log_id,
    matched_condition,
    path as field,
    value,
    value_type,
    value_text,
    value_number,
    value_bool,
    call_date
from json_leaves(docs)
