"""Prometheus metrics shared by every service."""

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter("clanavi_http_requests_total", "HTTP requests served", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "clanavi_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
OUTBOX_PUBLISHED = Counter("clanavi_outbox_published_total", "Events the outbox relay published")
OUTBOX_RELAY_ERRORS = Counter("clanavi_outbox_relay_errors_total", "Failed outbox relay attempts")
EVENTS_CONSUMED = Counter(
    "clanavi_events_consumed_total", "Events handled by this service's consumer", ["type", "outcome"]
)
