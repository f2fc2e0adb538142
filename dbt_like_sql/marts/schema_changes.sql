-- schema_changes: when an agent's extraction changes shape, so someone hears of it the day it
-- happens: a path it starts filling, a path it stops filling, a path whose type changes, and a
-- matched condition that appears or disappears (an edited prompt, a model update, a renamed
-- condition).
-- materialized: full
-- tests: not_null(change_date), not_null(agent_name), not_null(path), not_null(change)
-- Grain: change_date x agent_name x section x path x change. section is 'data_capture' or
-- 'structured_output'; a condition is the path `_matched_condition=<name>` of
-- structured_output. change:
--   appeared     the first day the agent filled the path (null values do not count), unless
--                it is the agent's first day (a new agent is news, not drift: every path
--                it fills would appear at once);
--   disappeared  the path was filled on each of the agent's 3 previous active days, each with
--                at least getvariable('flag_min_day_count') calls, and on none of the calls
--                of a day with at least that many (a small day proves nothing);
--   type_changed the day's dominant type differs from the one of the agent's previous day
--                with the path; detail says 'before -> after'.
-- Paths are agent_field_days' (array positions as []). Rebuilt in full, but from the per-day
-- aggregates (agent_field_days, agent_call_days, which runs keep by day), not from the calls:
-- a few rows per agent, path and day, so a micro-batch can afford it and re-runs and
-- backfills give the same rows.
with agent_days as (
    -- every day an agent made calls, numbered, with how many
    select
        agent_name,
        call_date,
        sum(calls) as calls,
        row_number() over (partition by agent_name order by call_date) as day_index
    from agent_call_days
    group by agent_name, call_date
),

path_types as (
    select agent_name, section, path, call_date, value_type, sum(calls) as calls
    from agent_field_days
    group by agent_name, section, path, call_date, value_type

    union all

    select agent_name, 'structured_output' as section,
           '_matched_condition=' || matched_condition as path, call_date,
           'condition' as value_type, sum(calls) as calls
    from agent_call_days
    where matched_condition is not null
    group by agent_name, matched_condition, call_date
),

path_days as (
    -- the day's dominant type: the one most calls held (ties: alphabetical)
    select agent_name, section, path, call_date, sum(calls) as filled,
           first(value_type order by calls desc, value_type) as day_type
    from path_types
    group by agent_name, section, path, call_date
),

appeared as (
    select first_seen.*
    from (
        select min(call_date) as change_date, agent_name, section, path,
               'appeared' as change, null::varchar as detail
        from path_days
        group by agent_name, section, path
    ) as first_seen
    join agent_days as a
        on a.agent_name = first_seen.agent_name and a.call_date = first_seen.change_date
    where a.day_index > 1
),

typed as (
    select
        *,
        lag(day_type) over (partition by agent_name, section, path order by call_date)
            as type_before
    from path_days
    where not starts_with(path, '_matched_condition=')
),

type_changed as (
    select call_date as change_date, agent_name, section, path, 'type_changed' as change,
           type_before || ' -> ' || day_type as detail
    from typed
    where type_before is not null and type_before <> day_type
),

presence as (
    -- each path the agent ever filled, on each of the agent's active days
    select
        a.agent_name,
        a.call_date,
        a.day_index,
        a.calls,
        p.section,
        p.path,
        d.filled is not null as present
    from agent_days as a
    join (select distinct agent_name, section, path from path_days) as p using (agent_name)
    left join path_days as d using (agent_name, section, path, call_date)
),

streaks as (
    select
        *,
        count(*) filter (where present and calls >= getvariable('flag_min_day_count')) over (
            partition by agent_name, section, path order by day_index
            rows between 3 preceding and 1 preceding) as steady_days_before
    from presence
),

disappeared as (
    select call_date as change_date, agent_name, section, path, 'disappeared' as change,
           'absent from all ' || calls || ' calls, after 3 days with it' as detail
    from streaks
    where not present
      and calls >= getvariable('flag_min_day_count')
      and steady_days_before = 3
)

select * from appeared
union all
select * from type_changed
union all
select * from disappeared
order by change_date, agent_name, section, path, change
