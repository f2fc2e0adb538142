"""Looking for a phone number everywhere, as an auditor would: decoded (every cell of every
Parquet file, DuckDB table and view, PostgreSQL table) and as raw bytes (every file)."""

from __future__ import annotations

import io
import re
import shutil
import tempfile
from pathlib import Path

import duckdb
import psycopg2
import pyarrow.parquet as pq


def number_forms(e164: str) -> list[str]:
    """The ways the number can be written: +CC..., CC..., the national number, grouped."""
    digits = e164.lstrip("+")
    national = digits[2:]  # the simulator's numbers are Indian: +91 and ten digits
    return [digits, national, f"{national[:5]} {national[5:]}", f"{national[:5]}-{national[5:]}"]


def number_regex(e164: str) -> str:
    national = e164.lstrip("+")[2:]
    return "[ .()-]{0,2}".join(national)  # the national digits, however grouped


def raw_hits(root: Path, e164: str) -> list[str]:
    """Files under `root` whose bytes hold a form of the number (compressed files excepted:
    their decoded contents are scanned separately)."""
    forms = [form.encode() for form in number_forms(e164)]
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path.relative_to(root)}: {form.decode()}" for form in forms
                      if form in data]
    return found


def parquet_hits(name: str, data: bytes, e164: str) -> list[str]:
    """Cells of a Parquet file (every column, as text) holding the number."""
    table = pq.read_table(io.BytesIO(data))
    pattern = re.compile(number_regex(e164))
    return [f"{name}:{column}" for column in table.column_names
            for value in table[column].to_pylist()
            if value is not None and pattern.search(str(value))]


def duckdb_hits(path: Path, e164: str) -> list[str]:
    """Cells of every table and view (every schema) of a DuckDB file holding the number; the
    file is read through a copy, so a writer holding it does not matter."""
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "copy.duckdb"
        shutil.copyfile(path, copy)
        wal = Path(f"{path}.wal")
        if wal.exists():
            shutil.copyfile(wal, Path(f"{copy}.wal"))
        found = []
        with duckdb.connect(str(copy), read_only=True) as con:
            relations = con.execute(
                "select schema_name, table_name from duckdb_tables() where database_name = "
                "'copy' union all select schema_name, view_name from duckdb_views() where "
                "database_name = 'copy' and not internal").fetchall()
            for schema, table in relations:
                columns = [name for (name,) in con.execute(
                    "select column_name from information_schema.columns where table_catalog = "
                    "'copy' and table_schema = $s and table_name = $t",
                    {"s": schema, "t": table}).fetchall()]
                for column in columns:
                    [(count,)] = con.execute(
                        f'select count(*) from "{schema}"."{table}" '
                        f'where regexp_matches("{column}"::varchar, $p)',
                        {"p": number_regex(e164)}).fetchall()
                    if count:
                        found.append(f"{path.name}:{schema}.{table}.{column}: {count}")
        return found


def postgres_hits(url: str, e164: str) -> list[str]:
    """Cells of every table of every non-system schema of a PostgreSQL database."""
    found = []
    with psycopg2.connect(url) as con, con.cursor() as cursor:
        cursor.execute("select table_schema, table_name, column_name from "
                       "information_schema.columns where table_schema not in "
                       "('pg_catalog', 'information_schema')")
        for schema, table, column in cursor.fetchall():
            cursor.execute(f'select count(*) from "{schema}"."{table}" '
                           f'where "{column}"::text ~ %s', (number_regex(e164),))
            [(count,)] = cursor.fetchall()
            if count:
                found.append(f"{schema}.{table}.{column}: {count}")
    return found
