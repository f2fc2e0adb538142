-- campaign_daily: how each campaign did each day.
-- materialized: incremental(call_date)
-- tests: not_null(call_date), not_null(campaign)
-- Grain: call_date x campaign (campaign is '(none)' when the trigger data names none).
-- extra_deliveries counts deliveries beyond the first per call: manual or bulk retries from
-- OSVI's Integration Logs and the same call reaching several integrations. attempts and
-- reach_rate (picked / attempts) come from per-call status webhooks (call_attempts); an
-- attempt's campaign is its call's when the call was also delivered post-call, else '(none)'.
-- Test calls (executionMode 'test') are left out.
with call_stats as (
    select
        call_date,
        campaign,
        count(*) as calls,
        count(distinct phone_number) as unique_phones,
        count(*) filter (where call_type = 'inbound') as inbound,
        count(*) filter (where call_type = 'outbound') as outbound,
        count(distinct agent_name) as agents,
        -- sum() of BIGINT is HUGEINT, which pandas and many BI drivers cannot read
        sum(delivery_count - 1)::bigint as extra_deliveries
    from calls
    where not is_test
    group by call_date, campaign
),

attempt_stats as (
    select
        a.attempt_date as call_date,
        coalesce(c.campaign, '(none)') as campaign,
        count(*) as attempts,
        count(*) filter (where a.status = 'picked') as picked
    from call_attempts as a
    -- an attempt's call may have been first delivered on another day: looked up whatever
    -- its day (an incremental run reads only the changed days' attempts and calls else)
    left join calls /* every day */ as c using (call_log_id)
    where a.execution_mode <> 'test'
    group by all
)

select
    coalesce(c.call_date, a.call_date) as call_date,
    coalesce(c.campaign, a.campaign) as campaign,
    coalesce(c.calls, 0) as calls,
    coalesce(c.unique_phones, 0) as unique_phones,
    coalesce(c.inbound, 0) as inbound,
    coalesce(c.outbound, 0) as outbound,
    coalesce(c.agents, 0) as agents,
    coalesce(c.extra_deliveries, 0) as extra_deliveries,
    coalesce(a.attempts, 0) as attempts,
    a.picked / a.attempts as reach_rate
from call_stats as c
full outer join attempt_stats as a
    on a.call_date = c.call_date and a.campaign = c.campaign
