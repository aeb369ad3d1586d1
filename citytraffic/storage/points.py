"""The unit of storage: a point, as InfluxDB sees it.

A point is identified by measurement + tag set + timestamp; writing the same identity again
overwrites the fields it carries (InfluxDB semantics, reproduced by the SQLite adapter). Readings
use the *source* timestamp, so a redelivered MQTT message overwrites instead of duplicating.
"""

from __future__ import annotations

from typing import Any

import msgspec

FieldValue = float | int | str | bool
Tags = tuple[tuple[str, str], ...]  # sorted by key


class Point(msgspec.Struct, frozen=True, gc=False):
    measurement: str
    tags: Tags
    fields: dict[str, FieldValue]
    time_ns: int


class Row(msgspec.Struct, frozen=True):
    """A stored point as read back: tags as a dict, fields (None when absent)."""

    tags: dict[str, str]
    time_ns: int
    fields: dict[str, Any]


def make_tags(**tags: str) -> Tags:
    return tuple(sorted(tags.items()))
