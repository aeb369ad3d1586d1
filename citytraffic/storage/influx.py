"""InfluxStore: the Store port over InfluxDB's v1 HTTP API (`/write`, `/query`, `/ping`).

The v1 API is served by InfluxDB 1.x, by 2.x (v1 compatibility, needs a DBRP mapping; pass a
token) and by 3.x Core, so this adapter works with all three. One `httpx.Client` is kept for the
life of the store (keep-alive); an instance may be shared between threads (httpx.Client is
thread-safe, the encoder and schema caches are plain dicts that only ever gain entries).

Reads: tag values and times are bound parameters (`params`, `$name`), identifiers are quoted.
`Row.fields` holds the fields the point has (absent ones are left out, so use `.get`); float
fields come back as float even when InfluxDB's JSON writes 3.0 as 3 (the field types are taken
from SHOW FIELD KEYS, cached per measurement).

Errors are mapped to the port's hierarchy:

    connection refused / timeout / 5xx  -> StoreUnavailable   (retry later, spool)
    404 on /write (database not found)  -> StoreUnavailable   (after one CREATE DATABASE + retry)
    401 / 403                           -> StoreAuthError     (configuration problem)
    other 4xx on /write                 -> PointsRejected     (the server's JSON `error` text)
    `error` in a /query answer          -> StoreQueryError    (a StoreError)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from citytraffic.storage.lineprotocol import LineEncoder, encode_or_reject
from citytraffic.storage.points import Point, Row
from citytraffic.storage.port import (
    Aggregate,
    Bucket,
    PointsRejected,
    StoreAuthError,
    StoreError,
    StoreUnavailable,
)

__all__ = ["InfluxStore", "StoreQueryError"]


log = logging.getLogger(__name__)

Series = list[dict[str, Any]]
_AGGREGATES = frozenset(("mean", "sum", "min", "max", "count", "last"))
_TIME_RANGE = "time >= $start_ns AND time < $end_ns"


@dataclass(frozen=True, slots=True)
class _Schema:
    fields: dict[str, str]  # field key -> "float" | "integer" | "string" | "boolean"
    tag_keys: set[str]


class StoreQueryError(StoreError):
    """The server answered a query with an error (bad InfluxQL, unknown function, ...)."""


def quote_ident(name: str) -> str:
    """An InfluxQL double-quoted identifier (backslash and double quote escaped)."""
    if not name or "\n" in name or "\x00" in name:
        raise ValueError(f"invalid identifier {name!r}")
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _where(
    tags: Mapping[str, str] | None, time_clause: str, **times: int
) -> tuple[str, dict[str, str | int | float]]:
    """A WHERE clause with tag values and times as bound parameters ($t0, $t1, ...)."""
    bind: dict[str, str | int | float] = {k: int(v) for k, v in times.items()}
    clauses = [time_clause]
    for i, (key, value) in enumerate(sorted((tags or {}).items())):
        clauses.append(f"{quote_ident(key)} = $t{i}")
        bind[f"t{i}"] = value
    return " AND ".join(clauses), bind


def _as_float(value: object) -> float | None:
    if isinstance(value, bool | int | float):
        return float(value)
    return None  # a `last` of a string field: buckets carry numbers only


def _series_order(row: Row) -> tuple[tuple[tuple[str, str], ...], int]:
    return tuple(sorted(row.tags.items())), row.time_ns


def _time_order(row: Row) -> tuple[int, tuple[tuple[str, str], ...]]:
    return row.time_ns, tuple(sorted(row.tags.items()))


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return response.text.strip()[:500] or f"HTTP {response.status_code}"


class InfluxStore:
    """Store adapter for InfluxDB (v1 HTTP API)."""

    def __init__(
        self,
        url: str,
        database: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        timeout_s: float = 10.0,
        create_database: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`transport` is for tests (httpx.MockTransport); leave it None."""
        if not url.startswith(("http://", "https://")):
            raise ValueError("influx url must start with http:// or https://")
        if not database:
            raise ValueError("database name is empty")
        self.url = url.rstrip("/")
        self.database = database
        headers = {"Authorization": f"Token {token}"} if token else {}
        # InfluxDB 1.x accepts u/p query parameters and HTTP basic auth; basic auth keeps the
        # password out of URLs (and so out of proxy / access logs).
        auth = httpx.BasicAuth(username, password or "") if username is not None else None
        self._client = httpx.Client(
            base_url=self.url,
            headers=headers,
            auth=auth,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_keepalive_connections=4, max_connections=8),
            transport=transport,
        )
        self._encoder = LineEncoder()
        self._write_params = {"db": database, "precision": "ns"}
        self._schemas: dict[str, _Schema] = {}
        self._create_db = create_database
        if create_database:
            self._create_database()

    # -- plumbing -------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise StoreUnavailable(f"influxdb at {self.url} timed out: {exc}") from exc
        except httpx.TransportError as exc:
            raise StoreUnavailable(f"influxdb at {self.url} unreachable: {exc}") from exc
        status = response.status_code
        if status in (401, 403):
            raise StoreAuthError(f"influxdb refused credentials: {_error_text(response)}")
        if status >= 500:
            raise StoreUnavailable(f"influxdb answered {status}: {_error_text(response)}")
        return response

    def _create_database(self) -> None:
        """CREATE DATABASE is idempotent on 1.x; tolerated to fail for non-admin users (403),
        on servers without it (2.x/3.x v1 compatibility: databases are made elsewhere) and when
        the server is down (retried when a write answers 404 "database not found")."""
        try:
            self.query(f"CREATE DATABASE {quote_ident(self.database)}")
        except StoreError as exc:  # auth, unsupported, or down: writes will tell
            log.warning("influxdb: CREATE DATABASE %s failed: %s", self.database, exc)

    def query(self, influxql: str, bind: Mapping[str, str | int | float] | None = None) -> Series:
        """Run one InfluxQL statement; returns its series (`name`, `tags`, `columns`, `values`).

        User-supplied values must go through `bind` (`$name` placeholders, the `params` form
        field): InfluxDB substitutes them as literals, never as InfluxQL text.
        """
        data = {"q": influxql, "db": self.database, "epoch": "ns"}
        if bind:
            data["params"] = json.dumps(dict(bind))
        response = self._request("POST", "/query", data=data)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise StoreQueryError(f"query answered {response.status_code}: {response.text[:200]}")
        if body.get("error"):
            raise StoreQueryError(str(body["error"]))
        results = body.get("results") or [{}]
        first = results[0] if isinstance(results, list) and results else {}
        if first.get("error"):
            raise StoreQueryError(str(first["error"]))
        if response.status_code != 200:
            raise StoreQueryError(f"query answered {response.status_code}")
        return list(first.get("series") or [])

    # -- Store ----------------------------------------------------------------------------

    def ping(self) -> bool:
        try:
            response = self._client.get("/ping")
        except httpx.HTTPError:
            return False
        return response.status_code == 204

    def write(self, points: Sequence[Point]) -> None:
        """Encode and write `points`; returns when InfluxDB has them durably (HTTP 204).

        A point that cannot be encoded (NaN, newline, empty tag value, ...) raises
        PointsRejected before anything is sent.
        Note: InfluxDB 1.x answers a field type conflict (e.g. an int to a float field) with
        400 "partial write: field type conflict ..." and *keeps the other points of the
        batch*; this raises PointsRejected with that message, and a retry of the same batch
        is harmless (idempotent) but will be refused again.
        """
        if not points:
            return
        self.write_lines(encode_or_reject(self._encoder, points))

    def write_lines(self, body: bytes) -> None:
        """POST pre-encoded line protocol (nanosecond timestamps); same errors as `write`."""
        if not body:
            return
        response = self._post_write(body)
        if response.status_code == 404 and self._create_db:
            self._create_database()  # the server came up empty after we started
            response = self._post_write(body)
        if response.status_code == 204:
            return
        if response.status_code == 404:  # database not found (or no DBRP mapping on 2.x)
            raise StoreUnavailable(f"influxdb: {_error_text(response)}")
        if 400 <= response.status_code < 500:
            raise PointsRejected(_error_text(response))
        raise StoreUnavailable(f"unexpected answer {response.status_code} from /write")

    def _post_write(self, body: bytes) -> httpx.Response:
        return self._request(
            "POST",
            "/write",
            params=self._write_params,
            content=body,
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )

    # -- reads ----------------------------------------------------------------------------

    def latest(
        self, measurement: str, since_ns: int, tags: Mapping[str, str] | None = None
    ) -> list[Row]:
        where, bind = _where(tags, "time > $since_ns", since_ns=since_ns)
        q = (
            f"SELECT * FROM {quote_ident(measurement)} WHERE {where} "
            "GROUP BY * ORDER BY time DESC LIMIT 1"
        )
        rows: list[Row] = []
        for series in self.query(q, bind):
            # GROUP BY *: tags come per series ('' = the series has no such tag), columns
            # are fields only.
            series_tags = {k: v for k, v in (series.get("tags") or {}).items() if v}
            rows.extend(self._rows(measurement, series, series_tags))
        return sorted(rows, key=_series_order)

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
        where, bind = _where(tags, _TIME_RANGE, start_ns=start_ns, end_ns=end_ns)
        q = (
            f"SELECT * FROM {quote_ident(measurement)} WHERE {where} "
            f"ORDER BY time ASC LIMIT {int(limit)}"
        )
        rows: list[Row] = []
        for series in self.query(q, bind):
            # No GROUP BY: tag and field columns are mixed; the schema tells them apart.
            rows.extend(self._rows(measurement, series, None))
        rows.sort(key=_time_order)
        return rows

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
        if not aggregates or end_ns <= start_ns:
            return []
        selects = []
        for field, agg in aggregates.items():
            if agg not in _AGGREGATES:
                raise ValueError(f"unknown aggregate {agg!r}")
            selects.append(f"{agg}({quote_ident(field)}) AS {quote_ident(f'{agg}_{field}')}")
        where, bind = _where(tags, _TIME_RANGE, start_ns=start_ns, end_ns=end_ns)
        q = (
            f"SELECT {', '.join(selects)} FROM {quote_ident(measurement)} WHERE {where} "
            f"GROUP BY time({int(window_s)}s) fill(none)"
        )
        buckets: list[Bucket] = []
        for series in self.query(q, bind):
            names = series["columns"][1:]
            for values in series.get("values") or []:
                bucket = {n: _as_float(v) for n, v in zip(names, values[1:], strict=True)}
                if any(v is not None for v in bucket.values()):
                    buckets.append(Bucket(int(values[0]), bucket))
        buckets.sort(key=lambda b: b.start_ns)
        return buckets

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
        where, bind = _where(tags, _TIME_RANGE, start_ns=start_ns, end_ns=end_ns)
        q = f"SELECT count({quote_ident(field)}) FROM {quote_ident(measurement)} WHERE {where}"
        total = 0
        for series in self.query(q, bind):
            for values in series.get("values") or []:
                total += int(values[1] or 0)
        return total

    def close(self) -> None:
        self._client.close()

    # -- result decoding --------------------------------------------------------------------

    def _schema(self, measurement: str, refresh: bool = False) -> _Schema:
        schema = self._schemas.get(measurement)
        if schema is None or refresh:
            mq = quote_ident(measurement)
            fields = {str(v[0]): str(v[1]) for v in self._values(f"SHOW FIELD KEYS FROM {mq}")}
            tag_keys = {str(v[0]) for v in self._values(f"SHOW TAG KEYS FROM {mq}")}
            schema = self._schemas[measurement] = _Schema(fields, tag_keys)
        return schema

    def _values(self, influxql: str) -> list[list[Any]]:
        return [v for s in self.query(influxql) for v in s.get("values") or []]

    def _rows(
        self, measurement: str, series: Mapping[str, Any], tags: dict[str, str] | None
    ) -> list[Row]:
        columns: list[str] = list(series["columns"])
        schema = self._schema(measurement)
        if any(c not in schema.fields and c not in schema.tag_keys for c in columns[1:]):
            schema = self._schema(measurement, refresh=True)
        rows = []
        for values in series.get("values") or []:
            row_tags: dict[str, str] = {} if tags is None else dict(tags)
            fields: dict[str, Any] = {}
            for name, value in zip(columns[1:], values[1:], strict=True):
                if value is None:
                    continue
                if tags is None and name in schema.tag_keys and name not in schema.fields:
                    if value != "":
                        row_tags[name] = str(value)
                elif schema.fields.get(name) == "float" and isinstance(value, int):
                    fields[name] = float(value)  # JSON writes 3.0 as 3
                else:
                    fields[name] = value
            if fields:
                rows.append(Row(row_tags, int(values[0]), fields))
        return rows
