-- data_capture_fields: the values OSVI extracted per call (the agent's Data Extraction tab).
-- incremental: call_log_id
-- Grain: one row per call x captured field (nested values: one row per leaf path; see
-- macros/json_leaves.sql for the path syntax and the typed value columns). matched_condition
-- (the call's, as in calls) lets captured values be read by outcome without a join.
select
    c.call_log_id,
    c.matched_condition,
    l.path as field,
    l.value,
    l.value_type,
    l.value_text,
    l.value_number,
    l.value_bool
from calls as c, json_leaves(c.data_capture) as l
where c.data_capture is not null
