-- structured_output_fields: the Output Schema's values per call, with the condition that
-- matched for conditional schemas.
-- incremental: call_log_id
-- Grain: one row per call x leaf path (dotted, arrays as [i]: reminders[0].channel; see
-- macros/json_leaves.sql).
select
    c.call_log_id,
    c.matched_condition,
    l.path,
    l.value,
    l.value_type,
    l.value_text,
    l.value_number,
    l.value_bool
from calls as c, json_leaves(c.structured_output) as l
where c.structured_output is not null
  -- A conditional schema's label is the matched_condition column, not a field (the top-level
  -- key `_matched_condition`, quoted in a path because it starts with `_`).
  and l.path <> '"_matched_condition"'
