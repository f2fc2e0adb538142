-- campaign_daily: how each campaign did each day.
-- Grain: call_date x campaign (campaign is '(none)' when the trigger data names none).
-- extra_deliveries counts deliveries beyond the first per call: manual or bulk retries from
-- OSVI's Integration Logs and the same call reaching several integrations.
select
    call_date,
    campaign,
    count(*) as calls,
    count(distinct phone_number) as unique_phones,
    count(*) filter (where call_type = 'inbound') as inbound,
    count(*) filter (where call_type = 'outbound') as outbound,
    count(distinct agent_name) as agents,
    sum(delivery_count - 1) as extra_deliveries
from calls
group by call_date, campaign
