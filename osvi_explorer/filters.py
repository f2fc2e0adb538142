"""The explorer's query-string parameters, validated before any SQL sees them (pure).

Every value reaches DuckDB as a bound parameter; this module only decides which values are
acceptable, so a bad one gets a 400 naming the parameter instead of a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta

PAGE_SIZE = 50
MAX_TEXT = 200
MAX_PAGE = 100_000
NONE_CONDITION = "(none)"  # a call without a matched condition, as campaign '(none)' is
# Sortable columns of the calls list: name -> SQL expression (a fixed whitelist, never input).
SORTS = {"received": "first_received_at", "date": "call_date", "campaign": "campaign",
         "condition": "matched_condition", "intent": "intent", "agent": "agent_name",
         "deliveries": "delivery_count"}
DEFAULT_DAYS = 7


class BadParameter(ValueError):
    """A query parameter that cannot be used; `name` is the parameter."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


@dataclass(frozen=True)
class CallFilters:
    start: date
    end: date
    campaign: str | None = None
    condition: str | None = None
    intent: str | None = None
    agent: str | None = None
    q: str | None = None
    page: int = 1
    sort: str = "received"
    order: str = "desc"

    @property
    def offset(self) -> int:
        return (self.page - 1) * PAGE_SIZE

    def with_page(self, page: int) -> CallFilters:
        return replace(self, page=page)

    def query_pairs(self, **overrides: object) -> list[tuple[str, str]]:
        """The filters as query-string pairs (links to other pages keep them)."""
        values: dict[str, object] = {"campaign": self.campaign, "start": self.start.isoformat(),
                  "end": self.end.isoformat(), "condition": self.condition,
                  "intent": self.intent, "agent": self.agent, "q": self.q,
                  "sort": self.sort, "order": self.order, "page": self.page}
        values.update(overrides)
        return [(key, str(value)) for key, value in values.items()
                if value is not None and value != "" and not (key == "page" and value == 1)]


def parse_day(name: str, value: str | None) -> date | None:
    if value is None or value == "":
        return None
    if len(value) != 10:
        raise BadParameter(name, "a day written YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadParameter(name, "a day written YYYY-MM-DD") from None


def parse_text(name: str, value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > MAX_TEXT:
        raise BadParameter(name, f"at most {MAX_TEXT} characters")
    if any(ord(char) < 32 for char in value):
        raise BadParameter(name, "no control characters")
    return value


def parse_range(params: Mapping[str, str], today: date) -> tuple[date, date]:
    """start and end (inclusive); by default the last 7 days ending today."""
    end = parse_day("end", params.get("end")) or today
    start = parse_day("start", params.get("start")) or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise BadParameter("end", f"{end} is before start {start}")
    if (end - start).days > 3660:
        raise BadParameter("start", "a range of at most ten years")
    return start, end


def parse_page(params: Mapping[str, str]) -> int:
    page_text = params.get("page") or "1"
    if not page_text.isdigit() or not 1 <= int(page_text) <= MAX_PAGE:
        raise BadParameter("page", f"a whole number from 1 to {MAX_PAGE}")
    return int(page_text)


def parse_call_filters(params: Mapping[str, str], today: date) -> CallFilters:
    start, end = parse_range(params, today)
    sort = params.get("sort") or "received"
    if sort not in SORTS:
        raise BadParameter("sort", f"one of {', '.join(SORTS)}")
    order = params.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise BadParameter("order", "asc or desc")
    return CallFilters(
        start=start, end=end, campaign=parse_text("campaign", params.get("campaign")),
        condition=parse_text("condition", params.get("condition")),
        intent=parse_text("intent", params.get("intent")),
        agent=parse_text("agent", params.get("agent")), q=parse_text("q", params.get("q")),
        page=parse_page(params), sort=sort, order=order)


def wants_json(params: Mapping[str, str]) -> bool:
    fmt = params.get("format") or "html"
    if fmt not in ("html", "json"):
        raise BadParameter("format", "html or json")
    return fmt == "json"
