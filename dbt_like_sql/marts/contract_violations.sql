-- contract_violations: the paths a delivery brought that its integration's frozen contract
-- did not have (`contract: {data_capture: freeze}` in the integrations file; see
-- docs/integrations.md). The delivery itself is stored and loaded as any other.
-- materialized: incremental(delivery_id)
-- tests: not_null(delivery_id), not_null(path)
-- Grain: delivery_id x section x path. Only deliveries received after the contract was set
-- are checked (osvi_state.contracts, written by warehouse/contracts.py, with the paths the
-- section had then in osvi_state.contract_paths); path as in agent_field_days (array
-- positions as []); null values do not count.
with checked as (
    select
        d.delivery_id,
        d.call_log_id,
        d.integration,
        d.received_at,
        d.received_day,
        d.agent_name,
        c.section,
        case c.section
            when 'data_capture' then d.data_capture
            else d.structured_output
        end as doc
    from call_deliveries as d
    join osvi_state.contracts as c
        on c.integration = d.integration and d.received_at >= c.frozen_at
),

docs as (
    select * from checked where doc is not null
),

leaves as (
    select
        delivery_id,
        call_log_id,
        integration,
        received_at,
        received_day,
        agent_name,
        section,
        regexp_replace(path, '\[[0-9]+\]', '[]', 'g') as path
    from json_leaves(docs)
    where value_type <> 'null' and path <> '"_matched_condition"'
)

select distinct l.*
from leaves as l
anti join osvi_state.contract_paths as p
    on p.integration = l.integration and p.section = l.section and p.path = l.path
