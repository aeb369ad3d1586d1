"""SqliteStore: the Store port on an embedded SQLite file, with InfluxDB's semantics.

- A point's identity is measurement + tag set + time; writing it again merges fields (fields not
  in the new write keep their old value). Storage is one row per (series, time, field).
- Field types are fixed per measurement and field (float, integer, string, boolean), as in
  InfluxDB: a point carrying a conflicting type is dropped, the rest of the batch is written and
  PointsRejected ("partial write: field type conflict ...") is raised afterwards.
- Points that cannot be written as line protocol are refused the same way as by InfluxStore
  (PointsRejected before anything is written), so the two adapters accept the same points.
- WAL journal, busy_timeout and synchronous=FULL: several processes may share the file (ingest
  writes while the API reads) and a returned `write` survives a crash. One connection per store,
  guarded by a lock, so a store may be shared between threads.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from citytraffic.storage.lineprotocol import LineEncoder, encode_or_reject
from citytraffic.storage.points import FieldValue, Point, Row, Tags
from citytraffic.storage.port import (
    Aggregate,
    Bucket,
    PointsRejected,
    StoreUnavailable,
)

__all__ = ["SqliteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    measurement TEXT NOT NULL,
    tags TEXT NOT NULL,  -- JSON [[key, value], ...] sorted by key
    UNIQUE (measurement, tags)
);
CREATE TABLE IF NOT EXISTS series_tag (
    key TEXT NOT NULL, value TEXT NOT NULL, series_id INTEGER NOT NULL,
    PRIMARY KEY (key, value, series_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS field_type (
    measurement TEXT NOT NULL, field TEXT NOT NULL, kind TEXT NOT NULL,
    PRIMARY KEY (measurement, field)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS point (
    series_id INTEGER NOT NULL, time_ns INTEGER NOT NULL, field TEXT NOT NULL,
    value,  -- no declared type: REAL stays REAL, INTEGER stays INTEGER
    PRIMARY KEY (series_id, time_ns, field)
) WITHOUT ROWID;
"""

# value expression per aggregate over rows (time_ns, value, bucket) of one field
_AGG_SQL: dict[str, str] = {
    "mean": "AVG(value)",
    "sum": "SUM(value)",
    "min": "MIN(value)",
    "max": "MAX(value)",
    "count": "COUNT(value)",
    "last": "value",  # with MAX(time_ns): SQLite returns the row holding the maximum
}

_SERIES_SQL = "SELECT value FROM json_each(?)"


_KINDS: dict[type, str] = {bool: "boolean", int: "integer", float: "float", str: "string"}


def _kind(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    return "string"


def _decode(kind: str | None, value: Any) -> Any:
    if kind == "boolean":
        return bool(value)
    if kind == "float" and isinstance(value, int):
        return float(value)
    return value


class SqliteStore:
    """Store adapter for an embedded SQLite database file."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._encoder = LineEncoder()
        self._series_ids: dict[tuple[str, Tags], int] = {}
        self._kinds: dict[str, dict[str, str]] = {}
        try:
            self._db = sqlite3.connect(
                self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA cache_size = -65536")  # 64 MiB: many series per batch
            with self._tx(write=True) as cur:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        cur.execute(statement)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite store {self.path}: {exc}") from exc

    @contextmanager
    def _tx(self, write: bool = False) -> Iterator[sqlite3.Cursor]:
        """One transaction (BEGIN IMMEDIATE for writes: no lock upgrade deadlocks)."""
        cur = self._db.cursor()
        cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield cur
            cur.execute("COMMIT")
        except BaseException:
            with suppress(sqlite3.Error):  # SQLite may have rolled back already (disk full)
                cur.execute("ROLLBACK")
            self._series_ids.clear()  # ids handed out in the rolled-back transaction are void
            self._kinds.clear()
            raise

    # -- Store ----------------------------------------------------------------------------

    def ping(self) -> bool:
        try:
            with self._lock:
                self._db.execute("SELECT 1 FROM series LIMIT 1").fetchall()
        except sqlite3.Error:
            return False
        return True

    def write(self, points: Sequence[Point]) -> None:
        """Write durably; same identity merges fields. Raises PointsRejected (invalid points:
        nothing written; type conflicts: the other points are written) or StoreUnavailable."""
        if not points:
            return
        encode_or_reject(self._encoder, points)
        conflicts: list[str] = []
        try:
            with self._lock, self._tx(write=True) as cur:
                rows: list[tuple[int, int, str, FieldValue]] = []
                for point in points:
                    fields = [(k, v) for k, v in point.fields.items() if v is not None]
                    conflict = self._type_conflict(cur, point.measurement, fields)
                    if conflict:
                        conflicts.append(conflict)
                        continue
                    sid = self._series_id(cur, point.measurement, point.tags)
                    rows.extend((sid, point.time_ns, k, v) for k, v in fields)
                cur.executemany("INSERT OR REPLACE INTO point VALUES (?, ?, ?, ?)", rows)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite store {self.path}: {exc}") from exc
        if conflicts:
            raise PointsRejected(
                f"partial write: field type conflict: {conflicts[0]} dropped={len(conflicts)}"
            )

    def latest(
        self, measurement: str, since_ns: int, tags: Mapping[str, str] | None = None
    ) -> list[Row]:
        sql = f"""
            WITH lt AS (
                SELECT s.value AS sid,
                       (SELECT MAX(time_ns) FROM point WHERE series_id = s.value) AS t
                FROM ({_SERIES_SQL}) AS s)
            SELECT p.series_id, p.time_ns, p.field, p.value
            FROM lt JOIN point AS p ON p.series_id = lt.sid AND p.time_ns = lt.t
            WHERE lt.t > ? ORDER BY p.series_id"""
        rows = self._read_rows(measurement, tags, sql, (since_ns,), None)
        return sorted(rows, key=lambda r: (sorted(r.tags.items()), r.time_ns))

    def range(
        self,
        measurement: str,
        start_ns: int,
        end_ns: int,
        tags: Mapping[str, str] | None = None,
        limit: int = 100_000,
    ) -> list[Row]:
        if limit <= 0 or end_ns <= start_ns:
            return []
        sql = f"""
            SELECT series_id, time_ns, field, value FROM point
            WHERE series_id IN ({_SERIES_SQL}) AND time_ns >= ? AND time_ns < ?
            ORDER BY time_ns, series_id"""
        rows = self._read_rows(measurement, tags, sql, (start_ns, end_ns), limit)
        return sorted(rows, key=lambda r: (r.time_ns, sorted(r.tags.items())))

    def aggregate(
        self,
        measurement: str,
        tags: Mapping[str, str],
        aggregates: Mapping[str, Aggregate],
        start_ns: int,
        end_ns: int,
        window_s: int,
    ) -> list[Bucket]:
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        for agg in aggregates.values():
            if agg not in _AGG_SQL:
                raise ValueError(f"unknown aggregate {agg!r}")
        if not aggregates or end_ns <= start_ns:
            return []
        window_ns = window_s * 1_000_000_000
        names = [f"{agg}_{field}" for field, agg in aggregates.items()]
        by_bucket: dict[int, dict[str, float | None]] = {}
        with self._reading() as cur:
            ids = self._series_json(cur, measurement, tags)
            for (field, agg), name in zip(aggregates.items(), names, strict=True):
                sql = f"""
                    SELECT bucket, {_AGG_SQL[agg]}, MAX(time_ns) FROM (
                        SELECT time_ns - (((time_ns % ?1) + ?1) % ?1) AS bucket, time_ns, value
                        FROM point WHERE series_id IN (SELECT value FROM json_each(?2))
                        AND field = ?3 AND time_ns >= ?4 AND time_ns < ?5)
                    GROUP BY bucket"""
                for bucket, value, _ in cur.execute(sql, (window_ns, ids, field, start_ns, end_ns)):
                    values = by_bucket.setdefault(bucket, dict.fromkeys(names))
                    values[name] = float(value) if isinstance(value, int | float) else None
        return [
            Bucket(start, values)
            for start, values in sorted(by_bucket.items())
            if any(v is not None for v in values.values())
        ]

    def count(
        self,
        measurement: str,
        field: str,
        start_ns: int,
        end_ns: int,
        tags: Mapping[str, str] | None = None,
    ) -> int:
        if end_ns <= start_ns:
            return 0
        sql = f"""SELECT COUNT(*) FROM point WHERE series_id IN ({_SERIES_SQL})
                  AND field = ? AND time_ns >= ? AND time_ns < ?"""
        with self._reading() as cur:
            ids = self._series_json(cur, measurement, tags)
            return int(cur.execute(sql, (ids, field, start_ns, end_ns)).fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- helpers --------------------------------------------------------------------------

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Cursor]:
        """A read transaction (one consistent snapshot) under the lock."""
        try:
            with self._lock, self._tx() as cur:
                yield cur
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite store {self.path}: {exc}") from exc

    def _series(
        self, cur: sqlite3.Cursor, measurement: str, tags: Mapping[str, str] | None
    ) -> dict[int, dict[str, str]]:
        """Series of `measurement` matching `tags` ('' matches series without that tag)."""
        sql = ["SELECT id, tags FROM series WHERE measurement = ?"]
        args: list[str] = [measurement]
        for key, value in sorted((tags or {}).items()):
            exists = "SELECT 1 FROM series_tag AS t WHERE t.series_id = series.id AND t.key = ?"
            if value:
                sql.append(f"AND EXISTS ({exists} AND t.value = ?)")
                args += [key, value]
            else:
                sql.append(f"AND NOT EXISTS ({exists})")
                args.append(key)
        return {sid: dict(json.loads(t)) for sid, t in cur.execute(" ".join(sql), args)}

    def _series_json(
        self, cur: sqlite3.Cursor, measurement: str, tags: Mapping[str, str] | None
    ) -> str:
        return json.dumps(list(self._series(cur, measurement, tags)))

    def _read_rows(
        self,
        measurement: str,
        tags: Mapping[str, str] | None,
        sql: str,
        args: tuple[int, ...],
        limit: int | None,
    ) -> list[Row]:
        with self._reading() as cur:
            series = self._series(cur, measurement, tags)
            records = cur.execute(sql, (json.dumps(list(series)), *args))
            rows = list(_group_rows(records, series, limit))
            kinds = self._field_kinds(cur, measurement, {f for r in rows for f in r.fields})
        for row in rows:
            for name, value in row.fields.items():
                row.fields[name] = _decode(kinds.get(name), value)
        return rows

    def _load_kinds(self, cur: sqlite3.Cursor, measurement: str) -> dict[str, str]:
        sql = "SELECT field, kind FROM field_type WHERE measurement = ?"
        kinds = self._kinds[measurement] = dict(cur.execute(sql, (measurement,)).fetchall())
        return kinds

    def _field_kinds(
        self, cur: sqlite3.Cursor, measurement: str, names: set[str]
    ) -> dict[str, str]:
        kinds = self._kinds.get(measurement)
        if kinds is None or not names <= kinds.keys():
            kinds = self._load_kinds(cur, measurement)
        return kinds

    def _type_conflict(
        self, cur: sqlite3.Cursor, measurement: str, fields: list[tuple[str, FieldValue]]
    ) -> str | None:
        """The conflict message, or None after registering the types of new fields."""
        kinds = self._kinds.get(measurement)
        typed = [(k, _KINDS.get(type(v)) or _kind(v)) for k, v in fields]
        if kinds is None or any(k not in kinds for k, _ in typed):
            kinds = self._load_kinds(cur, measurement)  # another connection may know them
        for key, kind in typed:
            known = kinds.get(key, kind)
            if known != kind:
                return (
                    f'input field "{key}" on measurement "{measurement}" is type {kind}, '
                    f"already exists as type {known}"
                )
        new = [(measurement, k, kind) for k, kind in typed if k not in kinds]
        if new:
            cur.executemany("INSERT OR IGNORE INTO field_type VALUES (?, ?, ?)", new)
            kinds.update((k, kind) for _, k, kind in new)
        return None

    def _series_id(self, cur: sqlite3.Cursor, measurement: str, tags: Tags) -> int:
        sid = self._series_ids.get((measurement, tags))
        if sid is None:
            key = json.dumps(sorted(tags), ensure_ascii=False, separators=(",", ":"))
            cur.execute(
                "INSERT OR IGNORE INTO series (measurement, tags) VALUES (?, ?)", (measurement, key)
            )
            sql = "SELECT id FROM series WHERE measurement = ? AND tags = ?"
            sid = int(cur.execute(sql, (measurement, key)).fetchone()[0])
            cur.executemany(
                "INSERT OR IGNORE INTO series_tag VALUES (?, ?, ?)",
                [(k, v, sid) for k, v in tags],
            )
            if len(self._series_ids) > 200_000:
                self._series_ids.clear()
            self._series_ids[(measurement, tags)] = sid
        return sid


def _group_rows(
    records: Iterable[tuple[int, int, str, Any]],
    series: Mapping[int, dict[str, str]],
    limit: int | None,
) -> Iterator[Row]:
    """Consecutive (series, time) records -> Rows; stops after `limit` rows."""
    current: tuple[int, int] | None = None
    fields: dict[str, Any] = {}
    emitted = 0
    for sid, time_ns, field, value in records:
        if (sid, time_ns) != current:
            if current is not None:
                yield Row(dict(series[current[0]]), current[1], fields)
                emitted += 1
                if limit is not None and emitted >= limit:
                    return
            current, fields = (sid, time_ns), {}
        fields[field] = value
    if current is not None:
        yield Row(dict(series[current[0]]), current[1], fields)
