"""Time formats of the API: RFC 3339 UTC with a `Z` suffix, HTTP dates (RFC 9110)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime

__all__ = ["NS", "http_date", "parse_http_date", "parse_rfc3339_ns", "rfc3339"]

NS = 1_000_000_000


def rfc3339(time_ns: int) -> str:
    """`2025-01-02T03:04:05Z`, with microseconds only when they are not zero."""
    seconds, rest_ns = divmod(time_ns, NS)
    dt = datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest_ns // 1000)
    text = dt.isoformat(timespec="microseconds" if dt.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def http_date(time_s: int) -> str:
    """`Mon, 03 Mar 2025 08:00:00 GMT`."""
    return formatdate(time_s, usegmt=True)


def parse_http_date(text: str) -> int | None:
    """Seconds since the epoch of an HTTP date; None when it is not one."""
    try:
        dt = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def parse_rfc3339_ns(text: str) -> int | None:
    """Nanoseconds since the epoch of an RFC 3339 time with a zone; None otherwise."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        return None
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * NS + delta.microseconds * 1000
