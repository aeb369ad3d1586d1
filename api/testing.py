"""Helpers for testing the API (and code built on it), shipped like httpx's MockTransport.

- `ManualClock`: a clock in nanoseconds that only moves when told to.
- `SwitchableStore`: wraps any Store, counts the calls per method and can be switched `down`
  (every call then raises StoreUnavailable), to show what the API does during a store outage.
- `reading_point`, `ingest_stats_point`: points in the shape the ingest process writes them.
- `key_headers(settings, name, role)`: a fresh API key (operator or admin) as request headers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from citytraffic.settings import Settings
from citytraffic.storage.points import Point, Row, make_tags
from citytraffic.storage.port import Aggregate, Bucket, Store, StoreUnavailable

__all__ = ["ManualClock", "SwitchableStore", "ingest_stats_point", "key_headers", "reading_point"]


class ManualClock:
    def __init__(self, now_ns: int) -> None:
        self.now_ns = now_ns

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, seconds: float) -> None:
        self.now_ns += round(seconds * 1e9)


class SwitchableStore:
    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.down = False
        self.calls: Counter[str] = Counter()

    def _enter(self, method: str) -> None:
        self.calls[method] += 1
        if self.down:
            raise StoreUnavailable("store switched down by the test")

    def ping(self) -> bool:
        self.calls["ping"] += 1
        return not self.down and self.inner.ping()

    def write(self, points: Sequence[Point]) -> None:
        self._enter("write")
        self.inner.write(points)

    def latest(
        self, measurement: str, since_ns: int, tags: Mapping[str, str] | None = None
    ) -> list[Row]:
        self._enter("latest")
        return self.inner.latest(measurement, since_ns, tags)

    def range(
        self,
        measurement: str,
        start_ns: int,
        end_ns: int,
        tags: Mapping[str, str] | None = None,
        limit: int = 100_000,
    ) -> list[Row]:
        self._enter("range")
        return self.inner.range(measurement, start_ns, end_ns, tags, limit)

    def aggregate(
        self,
        measurement: str,
        tags: Mapping[str, str],
        aggregates: Mapping[str, Aggregate],
        start_ns: int,
        end_ns: int,
        window_s: int,
    ) -> list[Bucket]:
        self._enter("aggregate")
        return self.inner.aggregate(measurement, tags, aggregates, start_ns, end_ns, window_s)

    def count(
        self,
        measurement: str,
        field: str,
        start_ns: int,
        end_ns: int,
        tags: Mapping[str, str] | None = None,
    ) -> int:
        self._enter("count")
        return self.inner.count(measurement, field, start_ns, end_ns, tags)

    def close(self) -> None:
        self.inner.close()


def reading_point(
    site: str,
    detector: str,
    time_ns: int,
    count: int | None = 10,
    occupancy: float | None = 0.1,
    speed_kmh: float | None = 45.0,
    interval_s: int = 60,
    quality: str = "ok",
    seq: int = 0,
    gateway: str = "gw-test",
) -> Point:
    """A detector reading as the ingest stores it (measurement `detector`, tags site+detector)."""
    fields: dict[str, float | int | str | bool] = {
        "interval_s": interval_s,
        "quality": quality,
        "seq": seq,
        "gateway": gateway,
    }
    for key, value in (("count", count), ("occupancy", occupancy), ("speed_kmh", speed_kmh)):
        if value is not None:
            fields[key] = value
    return Point("detector", make_tags(site=site, detector=detector), fields, time_ns)


def ingest_stats_point(instance: str, time_ns: int, **fields: float | int | str | bool) -> Point:
    """An `ingest_stats` point as the ingest process writes it every few seconds."""
    return Point("ingest_stats", make_tags(instance=instance), dict(fields), time_ns)


def key_headers(
    settings: Settings, name: str = "test-operator", role: str = "operator"
) -> dict[str, str]:
    """Create an API key in the settings' key file; return the header that sends it."""
    from api.auth import create_api_key

    key = create_api_key(settings, name, role, created_by="test")
    return {"Authorization": f"Bearer {key}"}
