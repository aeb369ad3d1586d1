"""The Store port: what the rest of citytraffic needs from a time-series store.

Adapters: `influx.InfluxStore` (InfluxDB v1 HTTP API) and `sqlite.SqliteStore` (embedded, for the
demo and for machines without a server). One contract test suite runs against both.

Errors:

    StoreError
    ├── StoreUnavailable    the store cannot be reached or answered 5xx: retry later / spool
    ├── StoreAuthError      credentials refused: a configuration problem, do not retry
    └── PointsRejected      the store refused (some of) the batch as invalid: a 4xx with a reason;
                            retrying the same bytes will not help: split the batch
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from citytraffic.storage.points import Point, Row

Aggregate = Literal["mean", "sum", "min", "max", "count", "last"]


class StoreError(Exception):
    pass


class StoreUnavailable(StoreError):
    pass


class StoreAuthError(StoreError):
    pass


class PointsRejected(StoreError):
    pass


@dataclass(frozen=True, slots=True)
class Bucket:
    start_ns: int
    values: dict[str, float | None]  # "<agg>_<field>" -> value


class Store(Protocol):
    """A time-series store. All times are integer nanoseconds since the Unix epoch (UTC)."""

    def ping(self) -> bool:
        """True when the store answers."""
        ...

    def write(self, points: Sequence[Point]) -> None:
        """Write durably; same identity overwrites. Raises StoreUnavailable / PointsRejected."""
        ...

    def latest(
        self, measurement: str, since_ns: int, tags: Mapping[str, str] | None = None
    ) -> list[Row]:
        """The newest point of every series of `measurement` newer than `since_ns`."""
        ...

    def range(
        self,
        measurement: str,
        start_ns: int,
        end_ns: int,
        tags: Mapping[str, str] | None = None,
        limit: int = 100_000,
    ) -> list[Row]:
        """Points with start_ns <= time < end_ns, oldest first."""
        ...

    def aggregate(
        self,
        measurement: str,
        tags: Mapping[str, str],
        aggregates: Mapping[str, Aggregate],
        start_ns: int,
        end_ns: int,
        window_s: int,
    ) -> list[Bucket]:
        """Per time bucket aggregates of fields (field -> aggregate).

        Buckets start at multiples of `window_s` since the epoch (as InfluxDB's GROUP BY time);
        buckets without points are omitted; values keys are `<agg>_<field>`.
        """
        ...

    def count(
        self,
        measurement: str,
        field: str,
        start_ns: int,
        end_ns: int,
        tags: Mapping[str, str] | None = None,
    ) -> int:
        """Number of points with `field` set in [start_ns, end_ns)."""
        ...

    def close(self) -> None: ...
