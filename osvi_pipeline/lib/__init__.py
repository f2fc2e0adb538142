"""Pure logic: template inversion, the Auto-body model, JSON paths, wide-table planning, PII
rules, local days, report rendering. Imports neither DuckDB nor Dagster."""
