"""Eight days of three campaigns, built so that the last day has exactly one real change of
rate, one campaign falling silent, and one change that is only noise (2 of 3 against 1 of 3)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from osvi_core.settings import Settings
from tests.support.pipeline import delivery, land

FIRST = date(2026, 11, 20)
LAST = FIRST + timedelta(days=7)  # the day the flags are about


def _call(call_id: str, campaign: str, confirmed: bool) -> dict[str, object]:
    return {"call_log_id": call_id, "call_status": "picked", "call_type": "outbound",
            "phone_number": f"+9198{abs(hash(call_id)) % 10**8:08d}",
            "data_capture": {"appointment_confirmed": confirmed},
            "call_trigger_data": {"campaign": campaign}}


def land_flag_history(settings: Settings) -> None:
    rows = []
    for offset in range(8):
        day = FIRST + timedelta(days=offset)
        at = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
        last = offset == 7
        # Renewals: 40 calls a day, 80 % confirmed for a week, then 30 %.
        for i in range(40):
            rows.append(delivery(at + timedelta(seconds=i), _call(
                f"r{offset}-{i}", "Renewals", i < (12 if last else 32))))
        # Pilot: 3 calls a day, 2 of 3 confirmed, then 1 of 3 (noise).
        for i in range(3):
            rows.append(delivery(at + timedelta(minutes=5, seconds=i), _call(
                f"p{offset}-{i}", "Pilot", i < (1 if last else 2))))
        # Weekly: 30 calls every day, then none.
        if not last:
            for i in range(30):
                rows.append(delivery(at + timedelta(minutes=10, seconds=i), _call(
                    f"w{offset}-{i}", "Weekly", True)))
    land(settings, rows)
