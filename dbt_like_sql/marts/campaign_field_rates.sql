-- campaign_field_rates: Data Extraction fields summarised per campaign and day.
-- materialized: full
-- tests: not_null(call_date), not_null(field)
-- Grain: call_date x campaign x field, for fields whose values are all booleans
-- (field_type 'boolean': true_count, false_count, missing_count, true_rate) or all numbers
-- (field_type 'number': value_count, missing_count, avg_value, min_value, max_value); the
-- other column set is null. A pair appears when the field was captured at least once that
-- campaign-day. missing_count = the campaign-day's calls without a value for the field;
-- true_rate = true / (true + false), missing excluded.
with field_kinds as (
    select
        field,
        case
            when bool_and(value_type = 'boolean') then 'boolean'
            when bool_and(value_type in ('integer', 'number')) then 'number'
        end as field_type
    from data_capture_fields
    where value_type <> 'null'
    group by field
),

campaign_days as (
    select call_date, campaign, count(*) as calls
    from calls
    where not is_test
    group by call_date, campaign
),

captured as (
    select
        c.call_date,
        c.campaign,
        f.field,
        k.field_type,
        f.value_bool,
        f.value_number
    from data_capture_fields as f
    join field_kinds as k using (field)
    join calls as c using (call_log_id)
    where k.field_type is not null
      and not c.is_test
),

rates as (
    select
        call_date,
        campaign,
        field,
        field_type,
        count(*) filter (where value_bool) as true_count,
        count(*) filter (where not value_bool) as false_count,
        count(value_number) as value_count,
        -- fsum (compensated) instead of avg: avg's last bits follow the order DuckDB's threads
        -- add the values in, so a rerun or an incremental run could shift them; fsum's do not.
        fsum(value_number) / count(value_number) as avg_value,
        min(value_number) as min_value,
        max(value_number) as max_value
    from captured
    group by call_date, campaign, field, field_type
)

select
    r.call_date,
    r.campaign,
    r.field,
    r.field_type,
    case when r.field_type = 'boolean' then r.true_count end as true_count,
    case when r.field_type = 'boolean' then r.false_count end as false_count,
    d.calls - case when r.field_type = 'boolean' then r.true_count + r.false_count
                   else r.value_count end as missing_count,
    case when r.field_type = 'boolean' and r.true_count + r.false_count > 0
         then r.true_count / (r.true_count + r.false_count) end as true_rate,
    case when r.field_type = 'number' then r.value_count end as value_count,
    case when r.field_type = 'number' then r.avg_value end as avg_value,
    case when r.field_type = 'number' then r.min_value end as min_value,
    case when r.field_type = 'number' then r.max_value end as max_value
from rates as r
join campaign_days as d using (call_date, campaign)
