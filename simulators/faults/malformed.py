"""Bytes a gateway with a firmware bug might send instead of a message; the decoder must refuse
each of them (`payloads.decode` reason in brackets):

- `json`       the encoded message cut in half                              (malformed_json)
- `schema`     in turn: `ts` missing / an unknown field / `interval_s` 0     (schema)
- `nan`        a bare `NaN` number, as Python's json.dumps writes it         (malformed_json)
- `oversized`  the message padded with blanks to one byte over 256 KiB       (oversized)
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from citytraffic.messaging import payloads

SCHEMA_VARIANTS = ("missing_ts", "unknown_field", "bad_interval")
EXPECTED_REASON = {
    "json": "malformed_json",
    "schema": "schema",
    "nan": "malformed_json",
    "oversized": "oversized",
}


def corrupt(message: payloads.Message, kind: str, n: int = 0) -> tuple[bytes, str]:
    """(payload, variant) for the n-th corruption of this kind. Raises ValueError on a bad kind."""
    encoded = payloads.encode(message)
    if kind == "json":
        return encoded[: max(1, len(encoded) // 2)], "truncated"
    if kind == "oversized":
        pad = payloads.MAX_PAYLOAD_BYTES + 1 - len(encoded)
        return encoded + b" " * max(1, pad), "padded"
    obj: dict[str, Any] = msgspec.json.decode(encoded)
    if kind == "schema":
        variant = SCHEMA_VARIANTS[n % len(SCHEMA_VARIANTS)]
        if variant == "bad_interval" and "interval_s" not in obj:
            variant = "missing_ts"
        if variant == "missing_ts":
            obj.pop("ts", None)
        elif variant == "unknown_field":
            obj["firmware"] = "0.9-beta"
        else:
            obj["interval_s"] = 0
        return json.dumps(obj).encode(), variant
    if kind == "nan":
        nan = float("nan")
        if isinstance(obj.get("readings"), list) and obj["readings"]:
            obj["readings"][0]["speed_kmh"] = nan
        elif obj.get("schema") == "traffic.signal/1":
            obj["time_to_change_s"] = nan
        else:
            obj["speed_kmh"] = nan
        return json.dumps(obj, allow_nan=True).encode(), "nan_number"
    raise ValueError(f"unknown malformed kind {kind!r}")
