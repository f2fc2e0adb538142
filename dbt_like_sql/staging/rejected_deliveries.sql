-- rejected_deliveries: stored deliveries that could not become a call, with a readable reason.
-- materialized: incremental(delivery_id)
-- tests: unique(delivery_id), not_null(reason)
-- Grain: one row per delivery. Nothing stored is silently dropped: every row of deliveries is
-- either in call_deliveries or here (checked by the conservation asset check).
select
    delivery_id,
    received_at,
    received_day,
    integration,
    method,
    path,
    case
        when parse_error is not null then 'body is not a JSON object: ' || parse_error
        when coalesce(normalized_body, body) is null
            then method || ' delivery without a body, and no url_template field in its URL'
        else 'the body has no call_log_id'
    end as reason
from deliveries
where parse_error is not null
   -- a call-status webhook with a call_log_id is an attempt (call_attempts), not a rejection
   or (kind = 'call_status' and call_log_id is null)
   or (kind is distinct from 'call_status' and (
       coalesce(normalized_body, body) is null or call_log_id is null))
