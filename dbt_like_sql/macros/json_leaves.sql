-- json_leaves(docs): the leaves of JSON objects, for the long field tables.
-- `docs` is a table or CTE with a JSON column `doc` (an object per row); its other columns
-- are carried onto each leaf row: `with docs as (select call_log_id, data_capture as doc
-- from calls where data_capture is not null) select * from json_leaves(docs)`.
-- Grain: one row per leaf. A leaf is a scalar (null included) or an empty object or array,
-- so each object can be rebuilt exactly from its rows (osvi_pipeline/lib/json_paths.py
-- documents the path syntax, which is json_tree's full key without `$.`, and does the rebuilding).
-- Exactly one of value_text / value_number / value_bool is set, matching value_type (none for
-- null, object and array); value always holds the JSON text.
-- Why not json_tree over every document: DuckDB runs a lateral json_tree once per distinct
-- document and joins its rows back on the document's text, which costs most when documents
-- are distinct, as trigger data is. Here the top level of every row is read at once (json_keys
-- and `$.*` list keys and values in the same order, duplicates included) and json_tree only
-- descends into non-empty nested values. Same rows; at 1M calls call_trigger_fields took
-- 3.2 s instead of 7.1 s (table written), the two other sections no longer than before.
create or replace temp macro json_leaves(docs) as table
with top_level as (
    select
        * exclude (doc),
        unnest(json_keys(doc)) as key,
        unnest(json_extract(doc, '$.*')) as value
    from query_table(docs)
),

-- Materialized: both branches below read it (inlined, the top level was unnested three times).
typed as materialized (
    select
        * exclude (key),
        -- json_tree's spelling of a key: bare when it is a plain identifier, else quoted
        case when regexp_full_match(key, '[A-Za-z][A-Za-z0-9_]*') then key
             else '"' || replace(replace(key, '\', '\\'), '"', '\"') || '"' end as path,
        json_type(value) as type,
        type in ('OBJECT', 'ARRAY') and value::varchar not in ('{}', '[]') as nested
    from top_level
),

nodes as (
    select * exclude (nested) from typed where not nested
    union all by name
    select
        n.* exclude (path, value, type, nested),
        n.path || substr(t.fullkey, 2) as path,  -- `$.key` or `$[i]` below the top key
        t.value,
        t.type
    from typed as n, json_tree(n.value) as t
    where n.nested
      and t.parent is not null
      and (t.type not in ('OBJECT', 'ARRAY') or t.value::varchar in ('{}', '[]'))
)

select
    * exclude (type),
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
