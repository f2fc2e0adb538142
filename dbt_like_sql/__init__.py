"""The SQL models (one `.sql` file per warehouse table) and their macros, shipped as package data
so an install from the wheel has them; osvi_pipeline.lib.sql_models reads them with
importlib.resources."""
