-- campaign_field_rates: Data Extraction fields summarised per campaign and day.
-- materialized: full
-- tests: not_null(call_date), not_null(field)
-- Grain: call_date x campaign x field, for fields whose values are all booleans
-- (field_type 'boolean': true_count, false_count, missing_count, true_rate) or all numbers
-- (field_type 'number': value_count, missing_count, avg_value, min_value, max_value); the
-- other column set is null. A pair appears when the field was captured at least once that
-- campaign-day. missing_count = the campaign-day's calls without a value for the field;
-- true_rate = true / (true + false), missing excluded. Built from campaign_field_days (a field's
-- kind, over every day, from its per-day counters) and campaign_daily (the campaign-day's
-- calls), a few rows a day.
with field_kinds as (
    select
        field,
        case
            when sum(rows_boolean) = sum(rows_with_value) then 'boolean'
            when sum(rows_number) = sum(rows_with_value) then 'number'
        end as field_type
    from campaign_field_days
    group by field
    having sum(rows_with_value) > 0
)

select
    d.call_date,
    d.campaign,
    d.field,
    k.field_type,
    case when k.field_type = 'boolean' then d.true_count end as true_count,
    case when k.field_type = 'boolean' then d.false_count end as false_count,
    c.calls - case when k.field_type = 'boolean' then d.true_count + d.false_count
                   else d.value_count end as missing_count,
    case when k.field_type = 'boolean' and d.true_count + d.false_count > 0
         then d.true_count / (d.true_count + d.false_count) end as true_rate,
    case when k.field_type = 'number' then d.value_count end as value_count,
    case when k.field_type = 'number' then d.value_sum / d.value_count end as avg_value,
    case when k.field_type = 'number' then d.min_value end as min_value,
    case when k.field_type = 'number' then d.max_value end as max_value
from campaign_field_days as d
join field_kinds as k using (field)
join campaign_daily as c using (call_date, campaign)
where k.field_type is not null
  and d.rows > 0
