"""Applying `lib/pii_rules.py` to DuckDB tables: which columns of a table are masked, and how.

Rules by column, so tables added later are covered without a list to keep up to date:
- a column named like a phone or name key (last `__` part of a wide column too) is masked;
- JSON columns (sections in `calls`, array fields) and delivery bodies: every PII key inside;
- long field tables (`path`/`field` + `value`): rows whose leaf key is a PII key;
- `call_summary` and delivery URL paths and queries: numbers and the call's known name;
- delivery `body_base64` (bytes that are not text) and `body_sha256` (it would confirm a
  guessed number) are left out (NULL).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import duckdb
import duckdb.func as duckdb_func
import pyarrow as pa

from osvi_pipeline.lib.json_paths import parse_path
from osvi_pipeline.lib.pii_rules import PiiRules, mask_text
from osvi_pipeline.lib.sql_names import quote_identifier, sql_text
from osvi_pipeline.warehouse.wide_tables import WIDE_TABLES

DELIVERY_BODIES = frozenset({"body", "normalized_body"})
URL_PARTS = frozenset({"path", "query"})
# Raw bytes cannot be inspected; the raw body's hash would confirm a guessed phone number.
UNINSPECTABLE = frozenset({"body_base64", "body_sha256"})
# Cheap SQL pre-check: only text with `+digit` or 10 digits in a row can hold a number to mask.
_MAY_HOLD_NUMBER = r"\+\d|\d{10}"


# The connections and cursors known to have the functions (calling one to find out would
# abort the caller's transaction when they are missing).
_REGISTERED: weakref.WeakSet[duckdb.DuckDBPyConnection] = weakref.WeakSet()


def register_functions(con: duckdb.DuckDBPyConnection, rules: PiiRules) -> None:
    """The masking functions as vectorized DuckDB functions on this connection (and its
    cursors, which share them); once per connection."""
    if con in _REGISTERED:  # (listing duckdb_functions() costs 14 ms: once per cursor)
        return
    if con.execute("select count(*) from duckdb_functions() "
                   "where function_name = 'pii_mask'").fetchall()[0][0]:
        _REGISTERED.add(con)  # by the connection this cursor is of
        return
    def rows(mask: Callable[..., Any], *columns: pa.Array) -> pa.Array:
        values = zip(*(column.to_pylist() for column in columns), strict=True)
        return pa.array([None if row[0] is None else mask(*row) for row in values], pa.string())

    # DuckDB reads the arity off the signature, hence one wrapper per arity.
    def unary(mask: Callable[..., Any]) -> Callable[[pa.Array], pa.Array]:
        return lambda column: rows(mask, column)

    def binary(mask: Callable[..., Any]) -> Callable[[pa.Array, pa.Array], pa.Array]:
        return lambda column, argument: rows(mask, column, argument)

    functions: dict[str, tuple[Callable[..., Any], int]] = {
        "pii_mask": (binary(lambda value, kind: rules.mask_scalar(kind, value)), 2),
        "pii_json": (binary(lambda text, kind: rules.mask_json_text(text, kind)), 2),
        "pii_text": (binary(lambda text, name: mask_text(text, [name])), 2),
        "pii_url": (unary(_mask_url_part), 1),
    }
    for name, (mask, arity) in functions.items():
        con.create_function(name, mask, ["VARCHAR"] * arity, "VARCHAR",
                            type=duckdb_func.ARROW, null_handling=duckdb_func.SPECIAL,
                            side_effects=False)
    _REGISTERED.add(con)


def _mask_url_part(text: str) -> str:
    """Numbers in a URL path or query, also when percent-encoded (`%2B91...`); a part with
    nothing to mask is kept exactly as received."""
    decoded = unquote(text)
    masked = mask_text(decoded)
    return text if masked == decoded else masked


def masked_select(con: duckdb.DuckDBPyConnection, table: str, rules: PiiRules,
                  rows: str | None = None) -> str:
    """`select * replace (...)` giving the `main` table with its personal data masked; `rows`:
    a subquery of some of its rows to mask instead of all (a preview's few)."""
    qualified = rows or quote_identifier(table)
    columns = dict(con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_name = $table and table_catalog = current_database() "
        "and table_schema = 'main' order by ordinal_position", {"table": table}).fetchall())
    # (agent_field_days has paths and types but no values: nothing of a person to mask)
    long_table = ("value" in columns and "value_type" in columns
                  and ("path" in columns or "field" in columns))
    # One scan of the table's paths serves its three value columns.
    leaf_kind = (_leaf_kind(con, qualified, "path" if "path" in columns else "field", rules)
                 if long_table else None)
    replaced = {name: expression for name, expression in (
        (name, _column_expression(table, name, sql_type, columns, rules, leaf_kind))
        for name, sql_type in columns.items()) if expression is not None}
    if not replaced:
        return f"select * from {qualified}"
    replacements = ", ".join(f"{expression} as {quote_identifier(name)}"
                             for name, expression in replaced.items())
    return f"select * replace ({replacements}) from {qualified}"


def _column_expression(table: str, name: str, sql_type: str, columns: dict[str, str],
                       rules: PiiRules, leaf_kind: str | None) -> str | None:
    """`leaf_kind`: for a long table, the SQL giving each row's 'phone', 'name' or null."""
    column = quote_identifier(name)
    if leaf_kind is not None and name in {"value", "value_text", "value_number"}:
        return _long_value(name, leaf_kind)
    kind = rules.kind_of(name.rsplit("__", 1)[-1])
    if name in UNINSPECTABLE and "method" in columns:
        return "null::varchar"
    if sql_type == "JSON" or (name in DELIVERY_BODIES and "method" in columns):
        kind_sql = f"'{kind}'" if kind else "null"
        return f"pii_json({column}::varchar, {kind_sql})::{sql_type}"
    # By name: text columns anywhere (not `unique_phones` counts), any type in the wide tables.
    if kind is not None and (sql_type == "VARCHAR" or table in WIDE_TABLES):
        return f"pii_mask({column}::varchar, '{kind}')"
    if name == "call_summary":
        person = '"person_name"' if "person_name" in columns else "null"
        return f"pii_text({column}, {person})"
    if name in URL_PARTS and "method" in columns:
        return f"pii_url({column})"
    if table in WIDE_TABLES and sql_type == "VARCHAR":
        return f"case when regexp_matches({column}, '{_MAY_HOLD_NUMBER}') " \
               f"then pii_text({column}, null) else {column} end"
    return None


def _leaf_kind(con: duckdb.DuckDBPyConnection, qualified: str, path_column: str,
               rules: PiiRules) -> str:
    """SQL giving a long-table row's kind from its leaf key, decided once per distinct path."""
    kinds: dict[str, list[str]] = {"phone": [], "name": []}
    for (path,) in con.execute(f"select distinct {path_column} from {qualified}").fetchall():
        kind = rules.kind_of(leaf_key(path)) if path else None
        if kind:
            kinds[kind].append(sql_text(path))
    branches = "".join(f"when {path_column} in ({', '.join(paths)}) then '{kind}' "
                       for kind, paths in kinds.items() if paths)
    return f"(case {branches}end)" if branches else "null::varchar"


def _long_value(name: str, kind: str) -> str:
    """One value column of a long table: masked by its row's leaf key, else free-text rule."""
    text = "coalesce(value_text, value::varchar)"
    masked = f"pii_mask({text}, {kind})"
    free_text = ("(value_type = 'string' and value_text like '% %' "
                 f"and regexp_matches(value_text, '{_MAY_HOLD_NUMBER}'))")
    if name == "value_number":
        return f"case when {kind} is null then value_number end"
    if name == "value_text":
        return (f"case when {kind} is not null then {masked} "
                f"when {free_text} then pii_text(value_text, null) else value_text end")
    return (f"case when {kind} is not null then to_json({masked}) "
            f"when {free_text} then to_json(pii_text(value_text, null)) else value end")


def leaf_key(path: str) -> str:
    """The last object key of a long table's path (`reminders[0].channel` -> `channel`)."""
    keys = [segment for segment in parse_path(path) if isinstance(segment, str)]
    return keys[-1] if keys else ""
