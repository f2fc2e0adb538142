-- section_leaves: every leaf of every call's data_capture, structured_output and
-- call_trigger_data, flattened by DuckDB's json_tree.
-- incremental: call_log_id
-- Grain: one row per call x section x leaf. A leaf is a scalar (null included) or an empty
-- object or array, so the section can be rebuilt exactly from its rows
-- (osvi_pipeline/paths.py documents the path syntax and does the rebuilding).
-- Exactly one of value_text / value_number / value_bool is set, matching value_type
-- (none for null, object and array); value always holds the JSON text.
with sections as (
    select call_log_id, matched_condition, 'data_capture' as section, data_capture as doc
    from calls
    where data_capture is not null
    union all
    select call_log_id, matched_condition, 'structured_output', structured_output
    from calls
    where structured_output is not null
    union all
    select call_log_id, matched_condition, 'call_trigger_data', call_trigger_data
    from calls
    where call_trigger_data is not null
),

nodes as (
    select
        s.call_log_id,
        s.matched_condition,
        s.section,
        t.id,
        t.parent,
        t.key,
        t.fullkey,
        t.type,
        t.value
    from sections as s, json_tree(s.doc) as t
)

select
    call_log_id,
    matched_condition,
    section,
    substr(fullkey, 3) as path,
    value,
    case type
        when 'VARCHAR' then 'string'
        when 'BOOLEAN' then 'boolean'
        when 'DOUBLE' then 'number'
        when 'NULL' then 'null'
        when 'OBJECT' then 'object'
        when 'ARRAY' then 'array'
        else 'integer'
    end as value_type,
    case when type = 'VARCHAR' then value ->> '$' end as value_text,
    case when type in ('UBIGINT', 'BIGINT', 'HUGEINT', 'DOUBLE')
         then (value ->> '$')::double end as value_number,
    case when type = 'BOOLEAN' then (value ->> '$')::boolean end as value_bool
from nodes
where parent is not null
  and (type not in ('OBJECT', 'ARRAY') or value::varchar in ('{}', '[]'))
  -- A conditional schema's label is the matched_condition column, not a field.
  and not (section = 'structured_output' and parent = 0 and key = '_matched_condition')
