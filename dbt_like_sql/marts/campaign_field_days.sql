-- campaign_field_days: what campaign_field_rates is computed from, kept per day so a run reads
-- the few rows of every day instead of every call's fields (at 10M deliveries the rates took
-- 4.5 s a micro-batch from the long table).
-- materialized: incremental(call_date)
-- tests: not_null(call_date), not_null(field)
-- Grain: call_date x campaign x field of data_capture. The kind counters (rows_* ) count every
-- call, test calls included, as the field's kind is decided over all of them; the rest count
-- the non-test calls only (rows: their captured rows, null values included). value_sum is a
-- compensated sum (fsum), so the rates' averages do not depend on the order DuckDB adds in.
with day_calls as (
    select call_log_id, call_date, campaign, is_test
    from calls
),

captured as (
    select c.call_date, c.campaign, c.is_test, f.field, f.value_type, f.value_bool,
           f.value_number
    from data_capture_fields as f
    join day_calls as c using (call_log_id)
)

select
    call_date,
    campaign,
    field,
    count(*) filter (where value_type <> 'null') as rows_with_value,
    count(*) filter (where value_type = 'boolean') as rows_boolean,
    count(*) filter (where value_type in ('integer', 'number')) as rows_number,
    count(*) filter (where not is_test) as rows,
    count(*) filter (where value_bool and not is_test) as true_count,
    count(*) filter (where not value_bool and not is_test) as false_count,
    count(value_number) filter (where not is_test) as value_count,
    fsum(value_number) filter (where not is_test) as value_sum,
    min(value_number) filter (where not is_test) as min_value,
    max(value_number) filter (where not is_test) as max_value
from captured
group by call_date, campaign, field
