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
-- Rebuilt in full from the long field tables, so re-runs and backfills give the same rows.
with leaves as (
    -- integers and decimals are one type here: 3 one day and 3.5 the next is no change
    select c.call_date, c.agent_name, 'data_capture' as section, f.field as path,
           replace(f.value_type, 'integer', 'number') as value_type
    from data_capture_fields as f
    join calls as c using (call_log_id)
    where not c.is_test and f.value_type <> 'null' and c.agent_name is not null

    union all

    select c.call_date, c.agent_name, 'structured_output' as section, f.path,
           replace(f.value_type, 'integer', 'number') as value_type
    from structured_output_fields as f
    join calls as c using (call_log_id)
    where not c.is_test and f.value_type <> 'null' and c.agent_name is not null

    union all

    select call_date, agent_name, 'structured_output' as section,
           '_matched_condition=' || matched_condition as path, 'condition' as value_type
    from calls
    where not is_test and matched_condition is not null and agent_name is not null
),

agent_days as (
    -- every day an agent made calls, numbered, with how many
    select
        agent_name,
        call_date,
        count(*) as calls,
        row_number() over (partition by agent_name order by call_date) as day_index
    from calls
    where not is_test and agent_name is not null
    group by agent_name, call_date
),

path_days as (
    select agent_name, section, path, call_date, count(*) as filled,
           mode(value_type order by value_type) as day_type
    from leaves
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
