-- call_attempts: every dialled call reported by per-call status webhooks (integrations with
-- mode call_status: OSVI's webhook_url for API-triggered calls), picked or not. Post-call
-- webhooks only ever see picked calls; this is where attempts and reach come from.
-- materialized: incremental(call_log_id)
-- tests: unique(call_log_id)
-- Grain: call_log_id (the latest report wins; attempt_date = the day first reported).
-- transcript_length: messages when `chat` is a list, characters when it is text.
with reports as (
    select
        call_log_id,
        received_at,
        received_day,
        delivery_id,
        from_json(body, '{
            "call_status": "VARCHAR", "agent_uuid": "VARCHAR", "agent_name": "VARCHAR",
            "phone_number": "VARCHAR", "executionMode": "VARCHAR", "chat": "JSON"
        }') as report
    from deliveries
    where kind = 'call_status'
      and parse_error is null
      and call_log_id is not null
)

select
    call_log_id,
    min(received_day) as attempt_date,
    arg_max(report.call_status, (received_at, delivery_id)) as status,
    arg_max(report.agent_uuid, (received_at, delivery_id)) as agent_uuid,
    arg_max(report.agent_name, (received_at, delivery_id)) as agent_name,
    arg_max(report.phone_number, (received_at, delivery_id)) as phone_number,
    coalesce(arg_max(report.executionMode, (received_at, delivery_id)), 'prod')
        as execution_mode,
    arg_max(
        case json_type(report.chat)
            when 'ARRAY' then json_array_length(report.chat)
            when 'VARCHAR' then length(report.chat ->> '$')
            else 0
        end,
        (received_at, delivery_id)
    )::bigint as transcript_length,  -- UBIGINT and BIGINT branches would make it HUGEINT
    count(*) as reports
from reports
group by call_log_id
