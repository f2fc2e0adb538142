"""The Dagster code location (`dagster dev -w workspace.yaml`, `-m osvi_pipeline.definitions`).

Settings are read when Dagster loads the location, not when this module is imported.
"""

import dagster as dg

from osvi_pipeline.defs.definitions import build_definitions
from osvi_pipeline.lib.settings import load_settings


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(load_settings())
