"""Realistic OSVI Auto-mode deliveries, for demos, tests and benchmarks.

Agents differ in their Data Extraction fields and Output Schemas (one conditional, with
`_matched_condition`); campaigns come from CSV rows or API triggers under different keys;
sections are sometimes omitted as OSVI does; some calls are retried by hand from the
Integration Logs (the same body again) or reach two integrations of one agent.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import orjson

from osvi_core.dotted import set_dotted
from osvi_core.integrations import Integration

JSON = dict[str, Any]

FIRST_NAMES = ["John", "Priya", "Ananya", "Rahul", "Maria", "Wei", "Fatima", "Arjun", "Sofia",
               "Kenji", "Olu", "Zoë", "Дмитрий", "محمد", "Sneha"]
LAST_NAMES = ["Doe", "Sharma", "Iyer", "Patel", "García", "Chen", "Khan", "Nair", "Rossi",
              "Tanaka", "Adeyemi", "Müller", "Иванов", "Haddad", "Reddy"]


@dataclass(frozen=True)
class Agent:
    name: str
    call_type: str  # the usual direction; sometimes unknown (omitted)
    campaigns: tuple[str, ...]
    campaign_key: str  # where the campaign sits in call_trigger_data (dotted)
    data_capture: Callable[[random.Random], JSON]
    structured_output: Callable[[random.Random], JSON] | None
    integrations: tuple[str, ...]


def _renewal_capture(rng: random.Random) -> JSON:
    return {
        "customer_name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
        "appointment_confirmed": rng.random() < 0.62,
        "preferred_time": rng.choice(["9:00 AM", "10:00 AM", "2:30 PM", "6:00 PM"]),
    }


def _renewal_output(rng: random.Random) -> JSON:
    """A conditional Output Schema: each condition produces different fields."""
    roll = rng.random()
    day = date(2026, 12, 1) + timedelta(days=rng.randrange(30))
    if roll < 0.55:
        return {
            "_matched_condition": "confirmed",
            "intent": "appointment_confirmation",
            "appointment": {"date": day.isoformat(), "time": rng.choice(["10:00", "14:30"])},
            "reminders": [
                {"channel": channel, "minutes_before": rng.choice([15, 60, 1440])}
                for channel in rng.sample(["sms", "whatsapp", "email"], rng.randint(0, 2))
            ],
        }
    if roll < 0.8:
        return {
            "_matched_condition": "reschedule",
            "intent": "reschedule_request",
            "requested_date": day.isoformat(),
            "reason": rng.choice(["travelling", "work conflict", "unwell"]),
        }
    return {"_matched_condition": "not_interested", "intent": "decline",
            "reason": rng.choice(["price", "switched provider", "no need"])}


def _collections_capture(rng: random.Random) -> JSON:
    captured: JSON = {"dispute": rng.random() < 0.1}
    if rng.random() < 0.7:
        captured["promised_amount"] = round(rng.uniform(500, 25_000), 2)
        promise = date(2026, 12, 1) + timedelta(days=rng.randrange(20))
        captured["promise_date"] = promise.isoformat()
    return captured


def _collections_output(rng: random.Random) -> JSON:
    return {"intent": rng.choice(["promise_to_pay", "dispute", "callback"]),
            "payment": {"amount": rng.randrange(500, 25_000), "currency": "INR",
                        "method": rng.choice(["upi", "card", "netbanking", None])}}


def _support_capture(rng: random.Random) -> JSON:
    return {"issue_category": rng.choice(["billing", "delivery", "technical"]),
            "resolved": rng.random() < 0.7, "satisfaction": rng.randint(1, 5)}


def _support_output(rng: random.Random) -> JSON:
    return {"intent": "support", "ticket": {"priority": rng.choice(["low", "high"]),
                                            "tags": rng.sample(["refund", "late", "app"], 2)}}


def _survey_capture(rng: random.Random) -> JSON:
    return {"nps": rng.randint(0, 10), "would_recommend": rng.random() < 0.7,
            "comments": rng.choice(["great service", "too many calls", "", "बहुत अच्छा"])}


AGENTS: tuple[Agent, ...] = (
    Agent("agent_renewals_Zx81", "outbound",
          ("june-renewals", "Diwali Offer 2026", "दिवाली ऑफ़र", "renewals-north",
           "renewals-south", "renewals-vip"),
          "campaign", _renewal_capture, _renewal_output, ("crm", "sheet")),
    Agent("agent_collections_Q2", "outbound",
          ("collections-dec", "collections-late-30", "collections-late-60", "collections-q1",
           "recovery-pilot", "EMI reminders"),
          "meta.campaign_id", _collections_capture, _collections_output, ("crm",)),
    Agent("agent_support_In7", "inbound", ("", "support-hindi", "support-english", "support-vip"),
          "campaign_name", _support_capture, _support_output, ("crm",)),
    Agent("agent_survey_NPS", "outbound", ("nps-q4", "nps-q1", "csat-delivery", "csat-app"),
          "campaign_name", _survey_capture, None, ("crm",)),
)


@dataclass(frozen=True)
class SimulatedDelivery:
    integration: str
    method: str
    path: str  # after /webhooks/<integration>
    body: bytes
    call_log_id: str
    headers: tuple[tuple[str, str], ...] = ()  # the integration's own auth, when configured


def simulate_call(rng: random.Random, agent: Agent) -> JSON:
    """One Auto-mode body, with sections omitted as OSVI omits them."""
    phone = f"+91{rng.randrange(7_000_000_000, 9_999_999_999)}"
    call_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    body: JSON = {"call_log_id": call_id, "phone_number": phone, "agent_name": agent.name,
                  "call_status": "picked"}
    if rng.random() < 0.95:
        body["call_type"] = agent.call_type
    if rng.random() < 0.9:
        body["call_summary"] = f"The customer {rng.choice(['agreed', 'asked', 'declined'])} " \
                               f"and the call lasted {rng.randint(20, 400)} seconds."
    captured = agent.data_capture(rng)
    if captured and rng.random() < 0.92:
        body["data_capture"] = captured
    if agent.structured_output is not None and rng.random() < 0.95:
        body["structured_output"] = agent.structured_output(rng)
    if rng.random() < 0.95:
        trigger: JSON = {"phone_number": phone,
                         "person_name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                         "crm_id": f"lead_{rng.randrange(100_000)}"}
        campaign = rng.choice(agent.campaigns)
        if campaign:
            set_dotted(trigger, agent.campaign_key, campaign)
        body["call_trigger_data"] = trigger
    return body


def generate_deliveries(calls: int, seed: int = 0, retry_rate: float = 0.05
                        ) -> Iterator[SimulatedDelivery]:
    """Deliveries for `calls` calls: every integration of the agent, plus manual retries."""
    rng = random.Random(seed)
    for _ in range(calls):
        agent = rng.choice(AGENTS)
        body = orjson.dumps(simulate_call(rng, agent))
        call_id = orjson.loads(body)["call_log_id"]
        for integration in agent.integrations:
            delivery = SimulatedDelivery(integration, "POST", "", body, call_id)
            yield delivery
            if rng.random() < retry_rate:  # retried by hand from the Integration Logs
                yield delivery


def generate_for_integrations(calls: int, integrations: Mapping[str, Integration],
                              seed: int = 0, retry_rate: float = 0.05
                              ) -> Iterator[SimulatedDelivery]:
    """What OSVI would send to each configured integration: Auto bodies, rendered Custom
    Templates, URL placeholders, and per-call status reports (with unanswered attempts)."""
    from osvi_cli.integration_requests import request_parts

    rng = random.Random(seed)
    for _ in range(calls):
        agent = rng.choice(AGENTS)
        auto = simulate_call(rng, agent)
        for item in integrations.values():
            if item.mode == "call_status" and rng.random() < 0.4:
                missed = dict(auto, call_log_id=str(uuid.UUID(int=rng.getrandbits(128),
                                                              version=4)),
                              call_status=rng.choice(["not_picked", "busy", "failed"]))
                yield _delivery(item, request_parts(item, item.tokens[0], missed, "prod"),
                                missed)
            delivery = _delivery(item, request_parts(item, item.tokens[0], auto, "prod"), auto)
            yield delivery
            if rng.random() < retry_rate:
                yield delivery


def _delivery(item: Integration, parts: tuple[str, str, dict[str, str], bytes | None],
              auto: JSON) -> SimulatedDelivery:
    method, suffix, headers, body = parts
    return SimulatedDelivery(item.name, method, suffix, body or b"", str(auto["call_log_id"]),
                             tuple(headers.items()))


def webhook_url(base: str, integration: str, path: str) -> str:
    """A base URL gets /webhooks/<integration>; a full webhook URL is used as it is."""
    base = base.rstrip("/")
    return base + path if "/webhooks/" in base else f"{base}/webhooks/{integration}{path}"


async def send_deliveries(url: str, token: str, deliveries: list[SimulatedDelivery],
                          concurrency: int = 8, timeout: float = 15.0) -> Counter[str]:
    """Send with OSVI's headers; count answers by status (or error name)."""
    outcomes: Counter[str] = Counter()
    queue: asyncio.Queue[SimulatedDelivery] = asyncio.Queue()
    for delivery in deliveries:
        queue.put_nowait(delivery)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            delivery = queue.get_nowait()
            target = webhook_url(url, delivery.integration, delivery.path)
            try:
                response = await client.request(delivery.method, target, content=delivery.body,
                                                headers=dict(delivery.headers) or headers)
                outcomes[str(response.status_code)] += 1
            except httpx.HTTPError as exc:
                outcomes[type(exc).__name__] += 1

    async with httpx.AsyncClient(timeout=timeout) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return outcomes
