-- agent_field_days: in how many calls each agent captured each path, per day, campaign and
-- matched condition: the numerators of fill rates (campaign_flags' fill_rate:<field>) and
-- what schema_changes compares day by day.
-- materialized: incremental(call_date)
-- tests: not_null(call_date), not_null(agent_name), not_null(path), not_null(calls)
-- Grain: call_date x campaign x agent_name x matched_condition x section x path x value_type.
-- section is 'data_capture' or 'structured_output'; path is the leaf's (see
-- macros/json_leaves.sql) with array positions as [] (reminders[].channel: a third reminder
-- is not a new field). A path counts as captured when its value is not null; value_type is
-- the call's type for it ('number' for integers and decimals alike: 3 one day and 3.5 the
-- next is no change), the smallest when an array mixes them. calls: calls of the group with
-- the path captured as that type. Test calls and calls without an agent name are left out.
with day_calls as (
    select call_log_id, call_date, campaign, agent_name, matched_condition
    from calls
    where not is_test and agent_name is not null
),

leaves as (
    -- only the leaves of the calls of the days a run rebuilds (a semi-join: the leaf tables
    -- are not restricted by day themselves)
    select call_log_id, 'data_capture' as section, field as path, value_type
    from data_capture_fields
    where value_type <> 'null' and call_log_id in (select call_log_id from day_calls)

    union all

    select call_log_id, 'structured_output' as section, path, value_type
    from structured_output_fields
    where value_type <> 'null' and call_log_id in (select call_log_id from day_calls)
),

call_paths as (
    -- one row per call and path, whatever the number of array elements holding it
    select
        call_log_id,
        section,
        case
            when contains(path, '[') then regexp_replace(path, '\[[0-9]+\]', '[]', 'g')
            else path
        end as path,
        min(case when value_type = 'integer' then 'number' else value_type end) as value_type
    from leaves
    group by all
)

select
    c.call_date,
    c.campaign,
    c.agent_name,
    c.matched_condition,
    p.section,
    p.path,
    p.value_type,
    count(*) as calls
from call_paths as p
join day_calls as c using (call_log_id)
group by all
