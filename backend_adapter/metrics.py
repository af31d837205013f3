"""Prometheus metrics of the relay and the puller (the outbox gauges are the portal's: portal.metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ATTEMPTS = Counter("portal_outbox_delivery_attempts_total", "Delivery attempts by result", ["result"])
PUSH_LATENCY = Histogram(
    "portal_outbox_push_seconds", "Time to push one claimed batch to the CRM", buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10)
)
PULLED_ROWS = Counter("portal_crm_pulled_rows_total", "CRM rows applied to the portal", ["source"])
