"""Ingest metrics: prometheus_client collectors in a private registry, plus the `ingest_stats`
point written to the store every few seconds so another process (the API) can show ingest
health without scraping this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from citytraffic.storage.points import FieldValue, Point

STATS_MEASUREMENT = "ingest_stats"


def _value(collector: Counter | Gauge) -> float:
    """Current value of a counter or gauge, summed over its labels."""
    total = 0.0
    for metric in collector.collect():
        for sample in metric.samples:
            if not sample.name.endswith("_created"):
                total += sample.value
    return total


@dataclass
class IngestMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        p = "citytraffic_ingest_"
        self.messages = Counter(f"{p}messages", "MQTT messages received", registry=r)
        self.redelivered = Counter(
            f"{p}redelivered_messages", "messages received with the DUP flag", registry=r
        )
        self.readings = Counter(f"{p}readings_stored", "detector readings made durable", registry=r)
        self.points = Counter(f"{p}points_stored", "points made durable (all kinds)", registry=r)
        self.dead_letters = Counter(
            f"{p}dead_letters", "messages or points dead-lettered", ["reason"], registry=r
        )
        self.quarantined = Counter(f"{p}quarantined", "future-stamped messages", registry=r)
        self.spool_depth = Gauge(f"{p}spool_segments", "spool segments waiting", registry=r)
        self.spool_bytes = Gauge(f"{p}spool_bytes", "bytes waiting in the spool", registry=r)
        self.spooled = Counter(f"{p}spooled_batches", "batches written to the spool", registry=r)
        self.spool_unreadable = Counter(
            f"{p}spool_unreadable",
            "spool segments that could not be read (moved to bad/)",
            registry=r,
        )
        self.store_errors = Counter(f"{p}store_errors", "failed store writes", ["kind"], registry=r)
        self.store_up = Gauge(f"{p}store_up", "1 when the last store write succeeded", registry=r)
        self.batch_seconds = Histogram(
            f"{p}batch_write_seconds",
            "duration of one store write",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.lag_seconds = Gauge(
            f"{p}lag_seconds", "now minus the oldest source timestamp of the last batch", registry=r
        )
        self.stale_acks = Counter(
            f"{p}stale_acks", "acks dropped because their connection was gone", registry=r
        )
        self.store_up.set(1)

    def stats_point(self, instance: str, time_ns: int, pending_messages: int) -> Point:
        fields: dict[str, FieldValue] = {
            "messages": int(_value(self.messages)),
            "redelivered": int(_value(self.redelivered)),
            "readings_stored": int(_value(self.readings)),
            "points_stored": int(_value(self.points)),
            "dead_letters": int(_value(self.dead_letters)),
            "quarantined": int(_value(self.quarantined)),
            "spool_segments": int(_value(self.spool_depth)),
            "spool_bytes": int(_value(self.spool_bytes)),
            "store_errors": int(_value(self.store_errors)),
            "store_up": _value(self.store_up) > 0,
            "lag_s": float(_value(self.lag_seconds)),
            "pending_messages": pending_messages,
        }
        return Point(STATS_MEASUREMENT, (("instance", instance),), fields, time_ns)
