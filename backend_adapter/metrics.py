"""Prometheus metrics of the adapter (exposed by the web app's /metrics when in-process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PENDING = Gauge("portal_outbox_pending", "Outbox events waiting for delivery")
DEAD = Gauge("portal_outbox_dead", "Outbox events parked as dead")
OLDEST_PENDING_AGE = Gauge("portal_outbox_oldest_pending_age_seconds", "Age of the oldest pending outbox event")
ATTEMPTS = Counter("portal_outbox_delivery_attempts_total", "Delivery attempts by result", ["result"])
PUSH_LATENCY = Histogram(
    "portal_outbox_push_seconds", "Time to push one claimed batch to the CRM", buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10)
)
PULL_LAG = Gauge("portal_crm_pull_lag_seconds", "Seconds since the last successful pull from the CRM store")
PULLED_ROWS = Counter("portal_crm_pulled_rows_total", "CRM rows applied to the portal", ["source"])
