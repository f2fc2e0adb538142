-- campaign_outcomes: the outcome mix of each campaign's day.
-- materialized: incremental(call_date)
-- tests: not_null(call_date), not_null(campaign)
-- Grain: call_date x campaign x matched_condition x intent (either may be null: no
-- conditional schema, or no intent in the Output Schema). share = calls / the campaign's calls
-- that day, so the shares of one campaign-day add up to 1. A day's rows depend on that day's
-- calls only: a run rebuilds the days whose calls changed.
with outcomes as (
    select
        call_date,
        campaign,
        matched_condition,
        intent,
        count(*) as calls
    from calls
    where not is_test
    group by call_date, campaign, matched_condition, intent
)

select
    call_date,
    campaign,
    matched_condition,
    intent,
    calls,
    calls / sum(calls) over (partition by call_date, campaign) as share
from outcomes
