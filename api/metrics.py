"""Prometheus metrics of the API, in a private registry (never the process-global one).

- `citytraffic_api_requests_total{method,route,status}` and
  `citytraffic_api_request_duration_seconds{method,route}` (histogram), recorded by a pure ASGI
  middleware; `route` is the route template (`/api/v1/history`), `unmatched` for 404s, so
  arbitrary paths cannot blow up the label set.
- `citytraffic_api_snapshot_age_seconds`, `citytraffic_api_store_up`,
  `citytraffic_api_detectors_live`, `citytraffic_api_snapshot_refreshes_total`,
  `citytraffic_api_snapshot_failures_total`.
- The ingest processes' own counters, read from the latest `ingest_stats` points of the current
  snapshot: every numeric field becomes a gauge `citytraffic_ingest_<field>{instance=...}`, plus
  `citytraffic_ingest_report_age_seconds{instance}` (how old that point is: a dead ingest shows).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.snapshot import NS, SnapshotService

__all__ = ["CONTENT_TYPE", "ApiMetrics", "MetricsMiddleware"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_NOT_NAME = re.compile(r"[^a-zA-Z0-9_]")


def metric_name(field: str) -> str:
    return "citytraffic_ingest_" + _NOT_NAME.sub("_", field)


class SnapshotCollector(Collector):
    def __init__(self, snapshots: SnapshotService) -> None:
        self.snapshots = snapshots

    def collect(self) -> Iterator[Metric]:
        svc = self.snapshots
        now_ns = svc.clock_ns()
        snap = svc.current
        age = GaugeMetricFamily(
            "citytraffic_api_snapshot_age_seconds", "seconds since the live snapshot was read"
        )
        age_s = svc.age_s(now_ns)
        age.add_metric([], age_s if age_s is not None else float("nan"))
        yield age
        yield GaugeMetricFamily(
            "citytraffic_api_store_up",
            "1 when the last snapshot refresh read the store",
            value=1.0 if svc.last_ok else 0.0,
        )
        yield GaugeMetricFamily(
            "citytraffic_api_detectors_live",
            "detectors with a reading in the live window",
            value=float(len(snap.detectors)) if snap is not None else 0.0,
        )
        yield CounterMetricFamily(
            "citytraffic_api_snapshot_refreshes",
            "successful snapshot refreshes",
            value=svc.refreshes,
        )
        yield CounterMetricFamily(
            "citytraffic_api_snapshot_failures", "failed snapshot refreshes", value=svc.failures
        )
        if snap is None:
            return
        families: dict[str, GaugeMetricFamily] = {}
        report_age = GaugeMetricFamily(
            "citytraffic_ingest_report_age_seconds",
            "age of the latest ingest_stats point of each ingest instance",
            labels=["instance"],
        )
        for stats in snap.ingest:
            report_age.add_metric([stats.instance], max(0.0, (now_ns - stats.time_ns) / NS))
            for field, value in sorted(stats.values.items()):
                name = metric_name(field)
                if name == report_age.name:
                    continue
                family = families.get(name)
                if family is None:
                    family = families[name] = GaugeMetricFamily(
                        name, f"ingest field {field!r} (from ingest_stats)", labels=["instance"]
                    )
                family.add_metric([stats.instance], value)
        if snap.ingest:
            yield report_age
        yield from families.values()


class ApiMetrics:
    def __init__(self, snapshots: SnapshotService) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "citytraffic_api_requests",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "citytraffic_api_request_duration_seconds",
            "time to answer a request, by route template",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.registry.register(SnapshotCollector(snapshots))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts every HTTP request and its latency (outermost, so 413s and CORS are counted)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe(
                scope.get("method", "GET"), route, status, time.perf_counter() - started
            )
