"""The simulator produces OSVI-shaped, realistic and reproducible deliveries."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import orjson

from osvi_cli.simulate import generate_deliveries, send_deliveries
from osvi_testkit.processes import served
from tests.support.config import TOKEN
from tests.support.landing import read_landing


def test_deliveries_are_realistic_and_reproducible() -> None:
    deliveries = list(generate_deliveries(400, seed=7))
    assert deliveries == list(generate_deliveries(400, seed=7))
    bodies = [orjson.loads(d.body) for d in deliveries]
    agents = {body["agent_name"] for body in bodies}
    assert len(agents) == 4
    fields_by_agent = {agent: set().union(*(b.get("data_capture", {}).keys() for b in bodies
                                            if b["agent_name"] == agent)) for agent in agents}
    assert len({frozenset(fields) for fields in fields_by_agent.values()}) == 4
    conditions = Counter(b["structured_output"].get("_matched_condition") for b in bodies
                         if "structured_output" in b)
    assert {"confirmed", "reschedule", "not_interested"} <= set(conditions)
    for section in ("call_summary", "data_capture", "structured_output", "call_trigger_data",
                    "call_type"):
        present = sum(section in body for body in bodies)
        assert 0 < present < len(bodies), f"{section} is never omitted (or always)"
    per_call = Counter((d.integration, d.call_log_id) for d in deliveries)
    assert any(count > 1 for count in per_call.values()), "no manual retries"
    assert {d.integration for d in deliveries} == {"crm", "sheet"}
    assert all(body["call_status"] == "picked" for body in bodies)


def test_simulate_against_the_real_server(tmp_path: Path) -> None:
    deliveries = list(generate_deliveries(60, seed=1))
    with served(tmp_path / "data", TOKEN, tmp_path / "serve.log") as server:
        outcomes = asyncio.run(send_deliveries(server.url, TOKEN, deliveries, concurrency=6))
    assert outcomes == Counter({"200": len(deliveries)})
    landed = read_landing(tmp_path / "data" / "landing")
    assert sorted(landed.column("body").to_pylist()) == sorted(d.body.decode() for d in deliveries)
