-- agent_call_days: how many calls each agent made per day, campaign and matched condition:
-- the denominators of fill rates (campaign_flags' fill_rate:<field>) and the active days of
-- schema_changes, kept small so neither scans the calls of every day each run.
-- materialized: incremental(call_date)
-- tests: not_null(call_date), not_null(agent_name), not_null(calls)
-- Grain: call_date x campaign x agent_name x matched_condition (null when no conditional
-- schema matched). Test calls and calls without an agent name are left out.
select
    call_date,
    campaign,
    agent_name,
    matched_condition,
    count(*) as calls
from calls
where not is_test and agent_name is not null
group by call_date, campaign, agent_name, matched_condition
