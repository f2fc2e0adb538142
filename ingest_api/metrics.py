"""Prometheus metrics of the ingest API.

Each app gets its own registry (tests build many apps in one process). With several uvicorn
workers, `osvi serve` sets PROMETHEUS_MULTIPROC_DIR and /metrics aggregates all workers.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

disable_created_metrics()  # type: ignore[no-untyped-call]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "osvi_deliveries", "Deliveries answered, by integration and HTTP status",
            ["integration", "status"], registry=self.registry,
        )
        self.batch_rows = Histogram(
            "osvi_commit_batch_rows", "Deliveries per group commit (one journal fdatasync)",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024), registry=self.registry,
        )
        self.write_seconds = Histogram(
            "osvi_commit_seconds", "Time to append and fdatasync one group commit",
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.write_failures = Counter(
            "osvi_commit_failures", "Group commits that failed (answered 503)",
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "osvi_delivery_seconds", "End-to-end time from request to answer",
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.queue_depth = Gauge(
            "osvi_commit_queue_depth", "Deliveries waiting for the next landing write",
            registry=self.registry, multiprocess_mode="livesum",
        )

        self.compacted_rows = Counter(
            "osvi_landing_compacted_rows", "Journaled deliveries published as landing Parquet",
            registry=self.registry,
        )
        self.compaction_failures = Counter(
            "osvi_landing_compaction_failures", "Failed journal-to-landing compactions",
            registry=self.registry,
        )
        self.publish_failures = Counter(
            "osvi_landing_publish_failures", "Failed publications of the journal to landing, "
            "by reason (unreachable, access_denied, no_such_bucket, throttled, disk, error)",
            ["reason"], registry=self.registry,
        )
        self.backlog_bytes = Gauge(
            "osvi_landing_backlog_bytes", "Journal bytes of acknowledged deliveries not yet "
            "published to landing (503 at OSVI_BACKLOG_MAX_BYTES)",
            registry=self.registry, multiprocess_mode="livemax",
        )
        self.backlog_oldest_age = Gauge(
            "osvi_landing_backlog_oldest_age_seconds", "Age of the oldest acknowledged delivery "
            "not yet published to landing", registry=self.registry, multiprocess_mode="livemax",
        )
        self.journal_backlog = Gauge(
            "osvi_journal_segments", "Journal segments not yet published to landing",
            registry=self.registry, multiprocess_mode="livesum",
        )

    def record_batch(self, rows: int, seconds: float) -> None:
        self.batch_rows.observe(rows)
        self.write_seconds.observe(seconds)

    def render(self) -> tuple[bytes, str]:
        registry = self.registry
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
