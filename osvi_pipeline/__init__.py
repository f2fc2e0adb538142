"""The osvi-pipeline warehouse: landing Parquet in, DuckDB tables out.

Three layers, each importing only the ones below it (checked by import-linter in `make test`):
`lib` (pure logic: neither DuckDB nor Dagster), `warehouse` (DuckDB and files, no Dagster) and
`defs` (thin Dagster definitions). `definitions.py` is the code location Dagster loads.
"""
