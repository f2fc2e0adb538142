"""Dagster's GraphQL API, as the webserver serves it: launching a partition backfill and
reading its status."""

from __future__ import annotations

from typing import Any

import httpx

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on UnauthorizedError { message }
  }
}
"""
STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status }
    ... on PythonError { message }
  }
}
"""


def graphql(url: str, query_text: str, variables: dict[str, Any] | None = None
            ) -> dict[str, Any]:
    """The `data` of a query to the webserver at `url`; fails on GraphQL errors."""
    response = httpx.post(f"{url}/graphql", timeout=60,
                          json={"query": query_text, "variables": variables or {}})
    response.raise_for_status()
    payload = response.json()
    assert "errors" not in payload, payload
    return dict(payload["data"])
