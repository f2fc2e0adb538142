-- campaign_fill_rates: how often each campaign's calls captured each path, per day: the share
-- campaign_flags tests as fill_rate:<field> (a field that stops being filled is drift, even
-- when no call is missing it entirely).
-- materialized: full
-- tests: not_null(call_date), not_null(path), not_null(calls)
-- Grain: call_date x campaign x section x path. filled / calls = fill_rate, where calls counts
-- only the calls of agents that had captured the path by that day (a campaign whose agent mix
-- changes is not drift) and, for a structured_output leaf, only those with a condition under
-- which it had been captured (a leaf of one conditional schema is not missing from the
-- others'). Paths as in agent_field_days. Rebuilt in full from the per-day aggregates (a few
-- rows per agent, path and day): whether an agent had captured a path depends on every day
-- before.
with captured as (
    select
        call_date, campaign, agent_name, section, path,
        -- the group a path's calls are counted in: the agent's calls, or for a structured
        -- output leaf its calls with the same condition ('' when none matched)
        case when section = 'structured_output' then coalesce(matched_condition, '') end
            as condition_key,
        sum(calls) as filled
    from agent_field_days
    group by all
),

first_days as (
    select agent_name, section, path, condition_key, min(call_date) as first_day
    from captured
    group by all
),

group_calls as (
    select call_date, campaign, agent_name, coalesce(matched_condition, '') as condition_key,
           sum(calls) as calls
    from agent_call_days
    group by all
),

eligible as (
    -- every later day of each agent (and condition) that had captured the path
    select g.call_date, g.campaign, g.agent_name, f.section, f.path, f.condition_key,
           sum(g.calls) as calls
    from first_days as f
    join group_calls as g
        on g.agent_name = f.agent_name
        and g.call_date >= f.first_day
        and (f.condition_key is null or g.condition_key = f.condition_key)
    group by all
)

select
    e.call_date,
    e.campaign,
    e.section,
    e.path,
    coalesce(sum(c.filled), 0)::bigint as filled,
    sum(e.calls)::bigint as calls,
    coalesce(sum(c.filled), 0) / sum(e.calls) as fill_rate
from eligible as e
left join captured as c
    on c.call_date = e.call_date
    and c.campaign = e.campaign
    and c.agent_name = e.agent_name
    and c.section = e.section
    and c.path = e.path
    and c.condition_key is not distinct from e.condition_key
group by all
