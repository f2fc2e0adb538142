"""Per-integration contracts (`contract: {data_capture: freeze}` in the integrations file): the
paths a frozen section had when the contract was set, kept in `osvi_state`, which the
`contract_violations` model compares each newer delivery against.

A contract is set when a run first sees it: that run records the time and the section's paths
in the integration's deliveries received before it. Deliveries received from then on are
checked; a path outside that set is a violation (the delivery is stored and loaded all the
same). Setting the section back to `evolve` forgets the contract (its violations stay); freezing
it again takes a new set of paths.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb

from osvi_core.integrations import CONTRACT_SECTIONS, load_integrations
from osvi_pipeline.warehouse.model_runner import create_macros
from osvi_pipeline.warehouse.queries import table_exists

CONTRACT_MODEL = "contract_violations"
STATE_DDL = [
    "create schema if not exists osvi_state",
    "create table if not exists osvi_state.contracts (integration varchar not null, "
    "section varchar not null, frozen_at timestamptz not null)",
    "create table if not exists osvi_state.contract_paths (integration varchar not null, "
    "section varchar not null, path varchar not null)",
]
# The paths a frozen section already had (array positions as [], as agent_field_days').
# {section} is one of CONTRACT_SECTIONS, never user text.
KNOWN_PATHS = r"""
insert into osvi_state.contract_paths
select distinct $integration, $section, regexp_replace(path, '\[[0-9]+\]', '[]', 'g')
from json_leaves(_contract_docs)
where value_type <> 'null' and path <> '"_matched_condition"'
"""


def frozen_contracts(integrations_file: str | None) -> dict[str, list[str]]:
    """integration -> its frozen sections, read from the file at run time (an edit takes
    effect on the next run, without restarting anything)."""
    if not integrations_file or not Path(integrations_file).exists():
        return {}
    return {name: integration.contract.frozen_sections()
            for name, integration in load_integrations(Path(integrations_file)).items()}


def sync_contracts(con: duckdb.DuckDBPyConnection, frozen: dict[str, list[str]],
                   now: datetime) -> list[tuple[str, str]]:
    """Make osvi_state's contracts those of `frozen` (integration -> frozen sections): set the
    new ones at `now` with their known paths, forget the ones no longer frozen. Returns the
    (integration, section) pairs set by this call."""
    for statement in STATE_DDL:
        con.execute(statement)
    wanted = {(integration, section) for integration, sections in frozen.items()
              for section in sections if section in CONTRACT_SECTIONS}
    held = {(row[0], row[1]) for row in con.execute(
        "select integration, section from osvi_state.contracts").fetchall()}
    for integration, section in held - wanted:
        for table in ("contracts", "contract_paths"):
            con.execute(f"delete from osvi_state.{table} where integration = $i and "
                        "section = $s", {"i": integration, "s": section})
    added = sorted(wanted - held)
    if added:
        create_macros(con)
    for integration, section in added:
        con.execute("insert into osvi_state.contracts values ($i, $s, $t)",
                    {"i": integration, "s": section, "t": now})
        if table_exists(con, "main", "call_deliveries"):
            con.execute(f"create or replace temp table _contract_docs as select {section} "
                        "as doc from call_deliveries where integration = $i and received_at "
                        f"< $t and {section} is not null", {"i": integration, "t": now})
            con.execute(KNOWN_PATHS, {"integration": integration, "section": section})
    return added
