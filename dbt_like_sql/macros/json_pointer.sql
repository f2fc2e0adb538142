-- json_pointer(path): a leaf path of the long field tables (osvi_pipeline/lib/json_paths.py
-- documents the syntax) as an RFC 6901 JSON Pointer, so `json_extract(doc, json_pointer(path))` finds
-- that position again. Needed because DuckDB's `$.` paths cannot name an empty key; pointers
-- can. Quoted keys lose their quotes and backslash escapes, then `~` and `/` are escaped as the
-- RFC asks (`~0`, `~1`); `[i]` becomes `/i`.
create or replace temp macro json_pointer(path) as
'/' || array_to_string(
    list_transform(
        regexp_extract_all(path, '"(?:\\["\\]|[^"\\])*"|\[[0-9]+\]|[^.\["]+'),
        lambda segment: case
            when segment[1] = '"' then replace(replace(
                regexp_replace(segment[2:-2], '\\(["\\])', '\1', 'g'), '~', '~0'), '/', '~1')
            when segment[1] = '[' then segment[2:-2]
            else segment
        end
    ),
    '/'
)
