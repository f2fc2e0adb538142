-- json_leaves(doc): the leaves of one JSON object, for the long field tables.
-- Grain: one row per leaf. A leaf is a scalar (null included) or an empty object or array,
-- so the object can be rebuilt exactly from its rows (osvi_pipeline/paths.py documents the
-- path syntax, which is json_tree's full key without `$.`, and does the rebuilding).
-- Exactly one of value_text / value_number / value_bool is set, matching value_type (none for
-- null, object and array); value always holds the JSON text.
-- Used laterally, once per section: `from calls as c, json_leaves(c.data_capture) as l`.
-- (One statement per section: a union of the three sections in one json_tree query took twice
-- as long at 1M calls, and the copy into a shared leaf table cost as much again.)
create or replace temp macro json_leaves(doc) as table
select
    substr(t.fullkey, 3) as path,
    t.value,
    case t.type
        when 'VARCHAR' then 'string'
        when 'BOOLEAN' then 'boolean'
        when 'DOUBLE' then 'number'
        when 'NULL' then 'null'
        when 'OBJECT' then 'object'
        when 'ARRAY' then 'array'
        else 'integer'
    end as value_type,
    case when t.type = 'VARCHAR' then t.value ->> '$' end as value_text,
    case when t.type in ('UBIGINT', 'BIGINT', 'HUGEINT', 'DOUBLE')
         then (t.value ->> '$')::double end as value_number,
    case when t.type = 'BOOLEAN' then (t.value ->> '$')::boolean end as value_bool
from json_tree(doc) as t
where t.parent is not null
  and (t.type not in ('OBJECT', 'ARRAY') or t.value::varchar in ('{}', '[]'))
