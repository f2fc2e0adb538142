-- call_trigger_fields: what triggered each call (the API request body, or the campaign CSV
-- row's columns).
-- materialized: incremental(call_log_id)
-- tests: not_null(call_log_id), not_null(path)
-- Grain: one row per call x leaf path (see macros/json_leaves.sql).
-- call_date is the call's (as in calls): a day's fields are read without a join, and a
-- micro-batch finds its calls' rows by it (the table is kept in its order).
with docs as (
    select call_log_id, call_date, call_trigger_data as doc
    from calls
    where call_trigger_data is not null
)

select
    call_log_id,
    path,
    value,
    value_type,
    value_text,
    value_number,
    value_bool,
    call_date
from json_leaves(docs)
