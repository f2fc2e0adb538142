-- calls: one row per call, whatever the number of deliveries (manual or bulk retries, several
-- integrations on one agent).
-- materialized: incremental(call_log_id)
-- tests: unique(call_log_id), not_null(call_log_id), not_null(call_date)
-- Grain: call_log_id. Per column the latest non-null value wins (ties broken by delivery_id);
-- call_date is the OSVI_TIMEZONE day the call was first received; the three sections are the
-- latest delivery's that carried each. is_test: a call-status webhook said executionMode
-- 'test' (such calls are left out of every campaign table and counted in daily_summary).
with ordered as (
    -- Each delivery's place among its call's deliveries (ties in time broken by delivery_id):
    -- one integer for every "latest" below, half the cost of comparing the pair each time.
    select
        *,
        row_number() over (
            partition by call_log_id order by received_at, delivery_id
        ) as delivery_order
    from call_deliveries
),

merged as (
select
    call_log_id,
    min(received_day) as call_date,
    min(received_at) as first_received_at,
    max(received_at) as last_received_at,
    arg_max(agent_name, delivery_order)
        filter (where agent_name is not null) as agent_name,
    arg_max(phone_number, delivery_order)
        filter (where phone_number is not null) as phone_number,
    arg_max(call_status, delivery_order)
        filter (where call_status is not null) as call_status,
    arg_max(call_type, delivery_order)
        filter (where call_type is not null) as call_type,
    arg_max(call_summary, delivery_order)
        filter (where call_summary is not null) as call_summary,
    coalesce(arg_max(campaign, delivery_order)
        filter (where campaign is not null), '(none)') as campaign,
    arg_max(crm_id, delivery_order)
        filter (where crm_id is not null) as crm_id,
    arg_max(person_name, delivery_order)
        filter (where person_name is not null) as person_name,
    arg_max(matched_condition, delivery_order)
        filter (where matched_condition is not null) as matched_condition,
    arg_max(intent, delivery_order)
        filter (where intent is not null) as intent,
    count(*) as delivery_count,
    bool_or(synthetic_id) as synthetic_id,
    count(distinct integration) as integration_count,
    arg_max(data_capture, delivery_order)
        filter (where data_capture is not null) as data_capture,
    arg_max(structured_output, delivery_order)
        filter (where structured_output is not null) as structured_output,
    arg_max(call_trigger_data, delivery_order)
        filter (where call_trigger_data is not null) as call_trigger_data
from ordered
group by call_log_id
)

select
    m.*,
    coalesce(a.execution_mode = 'test', false) as is_test
from merged as m
left join call_attempts as a using (call_log_id)
