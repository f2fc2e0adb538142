-- daily_summary: the day at a glance, for the daily report.
-- materialized: full
-- tests: unique(call_date), not_null(call_date)
-- Grain: one row per OSVI_TIMEZONE day from the first to the last day with calls (days
-- without calls included, with 0). The top outcome is the most frequent matched_condition
-- (or intent when the schema is not conditional; ties broken alphabetically) among the calls
-- that have one; '(none)' only on a day when no call has one. Changes compare
-- with the previous day and with the mean of the 7 days before (fewer at the start). Test
-- calls (executionMode 'test') are not counted in calls but in test_calls.
-- Built from campaign_outcomes (a few rows per campaign-day, rebuilt by day) and two narrow
-- columns of calls: grouping every call by outcome made it grow with history.
with day_range as (
    select unnest(generate_series(min(call_date), max(call_date), interval 1 day))::date
        as call_date
    from calls
),

test_days as (
    select call_date, count(*) as test_calls
    from calls
    where is_test
    group by call_date
),

per_day as (
    select
        call_date,
        sum(calls)::bigint as calls,
        count(distinct campaign) as campaigns
    from campaign_outcomes
    group by call_date
),

outcomes as (
    select
        call_date,
        coalesce(matched_condition, intent, '(none)') as outcome,
        sum(calls)::bigint as calls,
        row_number() over (
            partition by call_date
            -- calls with no outcome (agents without an Output Schema) are not a headline
            order by outcome = '(none)', sum(calls) desc, outcome
        ) as rank
    from campaign_outcomes
    group by call_date, outcome
),

filled as (
    select
        r.call_date,
        coalesce(p.calls, 0) as calls,
        coalesce(p.campaigns, 0) as campaigns,
        coalesce(t.test_calls, 0) as test_calls,
        o.outcome as top_outcome,
        o.calls as top_outcome_calls
    from day_range as r
    left join per_day as p using (call_date)
    left join test_days as t on t.call_date = r.call_date
    left join outcomes as o on o.call_date = r.call_date and o.rank = 1
)

select
    call_date,
    calls,
    campaigns,
    top_outcome,
    top_outcome_calls,
    lag(calls) over by_day as previous_day_calls,
    calls - lag(calls) over by_day as change_vs_previous_day,
    avg(calls) over trailing_week as trailing_7_day_mean,
    calls - avg(calls) over trailing_week as change_vs_trailing_7_day_mean,
    test_calls
from filled
window
    by_day as (order by call_date),
    trailing_week as (order by call_date rows between 7 preceding and 1 preceding)
