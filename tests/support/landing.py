"""Reading landing back in tests (the pipeline itself reads it with DuckDB)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from osvi_core.landing import LANDING_SCHEMA, PARTITION_PREFIX


def read_landing(landing_dir: Path) -> pa.Table:
    """Every landed row of a local landing folder."""
    files = sorted(landing_dir.glob(f"{PARTITION_PREFIX}*/*.parquet"))
    if not files:
        return LANDING_SCHEMA.empty_table()
    return pa.concat_tables(pq.read_table(file, schema=LANDING_SCHEMA) for file in files)
