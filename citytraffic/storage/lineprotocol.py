"""InfluxDB line protocol encoding (v1 dialect, also accepted by 2.x and 3.x).

Escaping (InfluxDB 1.x parser): measurement escapes `,` and space; tag keys, tag values and field
keys escape `,`, `=` and space; string field values escape `\\` and `"`. The 1.x parser does not
unescape `\\` in tags, so a backslash inside a tag key or value is written as is (checked against
influxd 1.6.7: `a\\ b`, `a\\,b`, `a\\=b` round-trip), and a tag that *ends* in a backslash cannot
be represented: it is refused. Measurement names and field keys may not contain a backslash at
all (1.6.7 drops a backslash before `"`, `=`, `,` or space in them, or fails to parse the line)
nor start with a tab (trimmed by the parser); a measurement starting with `#` would make the
line a comment that the server silently skips, so it is refused. Newlines anywhere, empty tag
values, empty keys, the tag/field key `time`, NaN/inf and integers outside int64 are refused too.
Refusals raise `LineProtocolError` before anything is sent, so one bad point never turns into a
different point on the server.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from citytraffic.storage.points import FieldValue, Point, Tags
from citytraffic.storage.port import PointsRejected

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_MEASUREMENT = str.maketrans({",": "\\,", " ": "\\ "})
_KEY = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ "})
_FORBIDDEN = ("\n", "\r", "\x00")


class LineProtocolError(ValueError):
    pass


def _check_text(value: str, what: str) -> None:
    if not value:
        raise LineProtocolError(f"{what} is empty")
    for ch in _FORBIDDEN:
        if ch in value:
            raise LineProtocolError(f"{what} contains a newline or NUL")
    if value.endswith("\\"):
        raise LineProtocolError(f"{what} ends with a backslash")
    _check_utf8(value, what)


def _check_utf8(value: str, what: str) -> None:
    """Line protocol is UTF-8: a lone surrogate cannot be encoded and must not crash encode()."""
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise LineProtocolError(f"{what} is not valid Unicode text (lone surrogate)") from None


def _check_name(value: str, what: str) -> None:
    """Measurement names and field keys: no backslash, no leading tab (1.x trims it)."""
    if "\\" in value:
        raise LineProtocolError(f"{what} contains a backslash")
    if value.startswith("\t"):
        raise LineProtocolError(f"{what} starts with a tab")


def escape_measurement(name: str) -> str:
    _check_text(name, "measurement")
    _check_name(name, "measurement")
    if name.startswith("#"):
        raise LineProtocolError("measurement starts with '#' (a comment line)")
    return name.translate(_MEASUREMENT)


def escape_key(value: str, what: str = "tag") -> str:
    _check_text(value, what)
    if what == "field key":
        _check_name(value, what)
    if value == "time" and what in ("tag key", "field key"):
        raise LineProtocolError(f"{what} 'time' is reserved (1.x drops such a field silently)")
    return value.translate(_KEY)


def format_field_value(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise LineProtocolError(f"integer {value} outside int64")
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LineProtocolError(f"float {value} is not finite")
        return repr(value)
    if isinstance(value, str):
        if "\x00" in value:
            raise LineProtocolError("string field contains NUL")
        if "\n" in value or "\r" in value:
            raise LineProtocolError("string field contains a newline")
        _check_utf8(value, "string field")
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise LineProtocolError(f"unsupported field type {type(value).__name__}")


class LineEncoder:
    """Encodes points; caches the escaped `measurement,tags` prefix of each series."""

    def __init__(self) -> None:
        self._prefixes: dict[tuple[str, Tags], str] = {}
        self._field_keys: dict[str, str] = {}

    def series_prefix(self, measurement: str, tags: Tags) -> str:
        key = (measurement, tags)
        prefix = self._prefixes.get(key)
        if prefix is None:
            parts = [escape_measurement(measurement)]
            parts.extend(
                f"{escape_key(k, 'tag key')}={escape_key(v, 'tag value')}" for k, v in tags
            )
            prefix = ",".join(parts)
            if len(self._prefixes) > 200_000:
                self._prefixes.clear()
            self._prefixes[key] = prefix
        return prefix

    def field_key(self, key: str) -> str:
        escaped = self._field_keys.get(key)
        if escaped is None:
            escaped = self._field_keys[key] = escape_key(key, "field key")
        return escaped

    def line(self, point: Point) -> str:
        fields = ",".join(
            f"{self.field_key(k)}={format_field_value(v)}"
            for k, v in point.fields.items()
            if v is not None
        )
        if not fields:
            raise LineProtocolError("point has no fields")
        if not INT64_MIN <= point.time_ns <= INT64_MAX:
            raise LineProtocolError("timestamp outside int64 nanoseconds")
        return f"{self.series_prefix(point.measurement, point.tags)} {fields} {point.time_ns}"

    def encode(self, points: Iterable[Point]) -> bytes:
        return "\n".join(self.line(p) for p in points).encode()


def encode_or_reject(encoder: LineEncoder, points: Sequence[Point]) -> bytes:
    """Line protocol for `points`, or PointsRejected naming the first point that cannot be
    encoded (then nothing is sent: split the batch to isolate it). Both Store adapters use this,
    so they refuse exactly the same points."""
    try:
        return encoder.encode(points)
    except LineProtocolError:
        for i, point in enumerate(points):
            try:
                encoder.line(point)
            except LineProtocolError as exc:
                raise PointsRejected(f"point {i} ({point.measurement!r}): {exc}") from exc
        raise
