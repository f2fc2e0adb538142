"""The warehouse's DuckDB and file work: loading deliveries, running SQL models and their change
log, wide tables, masking, storage format, publication. Never imports Dagster."""
