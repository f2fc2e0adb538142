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
    -- joined to calls first: a run reads only the leaves of the days it rebuilds
    select c.*, 'data_capture' as section, f.field as path, f.value_type
    from data_capture_fields as f
    join day_calls as c using (call_log_id)
    where f.value_type <> 'null'

    union all

    select c.*, 'structured_output' as section, f.path, f.value_type
    from structured_output_fields as f
    join day_calls as c using (call_log_id)
    where f.value_type <> 'null'
),

call_paths as (
    -- one row per call and path, whatever the number of array elements holding it
    select
        call_date,
        campaign,
        agent_name,
        matched_condition,
        section,
        regexp_replace(path, '\[[0-9]+\]', '[]', 'g') as path,
        min(replace(value_type, 'integer', 'number')) as value_type
    from leaves
    group by call_log_id, call_date, campaign, agent_name, matched_condition, section,
             regexp_replace(path, '\[[0-9]+\]', '[]', 'g')
)

select
    call_date,
    campaign,
    agent_name,
    matched_condition,
    section,
    path,
    value_type,
    count(*) as calls
from call_paths
group by all
