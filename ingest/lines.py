"""Line protocol straight from decoded messages: the ingest hot path for InfluxDB.

Building a Point per reading and then encoding it costs about 18 us per reading; this builder
writes the same text in about 5 us (measured on the dev machine, 12-reading batches); with
`range_flags` inlined as flag bits for a reading with every value present, about 2 us. Escaping
is not re-implemented: series prefixes (measurement + tags) and string fields go through
`LineEncoder`'s cached escaping. JSON numbers are finite and int ranges are checked by the
decoder; a message built in code with NaN/inf is refused here (such values always fail a range
check, so only flagged readings are looked at). Any
message other than a detector batch goes through `convert.to_points` + `LineEncoder.line`.
`tests/unit/test_ingest_lines.py` keeps the output identical to the reference conversion.
"""

from __future__ import annotations

import math

from citytraffic.domain.quality import QUALITY_OK, RangeLimits, range_flags
from citytraffic.messaging import payloads
from citytraffic.storage.lineprotocol import (
    INT64_MAX,
    INT64_MIN,
    LineEncoder,
    LineProtocolError,
    format_field_value,
)
from ingest.convert import DETECTOR, time_ns, to_points


class LineBuilder:
    def __init__(self, limits: RangeLimits | None = None) -> None:
        self.limits = limits or RangeLimits()
        self._encoder = LineEncoder()
        self._strings: dict[str, str] = {}
        self._prefixes: dict[str, dict[str, str]] = {}  # site -> detector -> series prefix
        self._qualities = tuple(format_field_value(q) for q in _QUALITIES)

    def _string(self, value: str) -> str:
        formatted = self._strings.get(value)
        if formatted is None:
            if len(self._strings) > 100_000:
                self._strings.clear()
            formatted = self._strings[value] = format_field_value(value)
        return formatted

    def lines(self, message: payloads.Message, receive_ns: int) -> list[str]:
        """Line protocol lines (no trailing newline) for one message. Raises LineProtocolError
        only for values the decoder let through but the protocol cannot carry."""
        if isinstance(message, payloads.DetectorBatch):
            return self._detector_batch(message)
        encoder = self._encoder
        return [encoder.line(p) for p in to_points(message, receive_ns, self.limits)]

    def _site_prefixes(self, site: str) -> dict[str, str]:
        prefixes = self._prefixes.get(site)
        if prefixes is None:
            if len(self._prefixes) > 100_000:
                self._prefixes.clear()
            prefixes = self._prefixes[site] = {}
        return prefixes

    def _prefix(self, prefixes: dict[str, str], site: str, detector: str) -> str:
        """`detector,detector=<d>,site=<s> ` through LineEncoder's escaping, cached per site."""
        tags = (("detector", detector), ("site", site))
        prefix = prefixes[detector] = self._encoder.series_prefix(DETECTOR, tags) + " "
        return prefix

    def _detector_batch(self, m: payloads.DetectorBatch) -> list[str]:
        interval_s = m.interval_s
        tail = f"interval_s={interval_s}i,seq={m.seq}i,gateway={self._string(m.gateway)},quality="
        t_ns = time_ns(m.ts)
        if not INT64_MIN <= t_ns <= INT64_MAX:
            raise LineProtocolError("timestamp outside int64 nanoseconds")
        stamp = f" {t_ns}"
        string = self._string
        qualities = self._qualities
        prefixes = self._site_prefixes(m.site)
        limits = self.limits
        max_speed_kmh, max_flow = limits.max_speed_kmh, limits.max_flow_vph_per_lane
        isfinite = math.isfinite
        out: list[str] = []
        append = out.append
        for r in m.readings:
            count, occ, speed = r.count, r.occupancy, r.speed_kmh
            head = prefixes.get(r.detector) or self._prefix(prefixes, m.site, r.detector)
            if count is not None and occ is not None and speed is not None and interval_s > 0:
                # The usual reading: range_flags() inlined, each flag a bit, in its order.
                bits = 0
                if count < 0:
                    bits = 1
                elif count * 3600.0 / interval_s > max_flow:
                    bits = 2
                if not 0.0 <= occ <= 1.0:
                    bits |= 4
                if not 0.0 <= speed <= max_speed_kmh:
                    bits |= 8
                if count > 0 and occ == 0.0:
                    bits |= 16
                elif count == 0 and occ > 0.0:
                    bits |= 32
                if bits and not (isfinite(occ) and isfinite(speed)):  # NaN/inf fail a check
                    _refuse_non_finite(occ, speed)
                append(
                    f"{head}count={count}i,occupancy={occ!r},speed_kmh={speed!r},"
                    f"{tail}{qualities[bits]}{stamp}"
                )
                continue
            flags = range_flags(count, occ, speed, interval_s, limits)
            if flags != QUALITY_OK:
                _refuse_non_finite(occ, speed)
            if count is not None:
                head += f"count={count}i,"
            if occ is not None:
                head += f"occupancy={occ!r},"
            if speed is not None:
                head += f"speed_kmh={speed!r},"
            append(f"{head}{tail}{string(flags)}{stamp}")
        return out


# range_flags() of a reading with every value present, by bit: count_negative 1,
# flow_above_max 2, occupancy_out_of_range 4, speed_out_of_range 8, count_without_occupancy 16,
# occupancy_without_count 32 (joined in that order, as range_flags joins them).
_FLAG_NAMES = (
    "count_negative",
    "flow_above_max",
    "occupancy_out_of_range",
    "speed_out_of_range",
    "count_without_occupancy",
    "occupancy_without_count",
)
_QUALITIES = tuple(
    ";".join(name for i, name in enumerate(_FLAG_NAMES) if bits >> i & 1) or QUALITY_OK
    for bits in range(1 << len(_FLAG_NAMES))
)


def _refuse_non_finite(*values: float | None) -> None:
    for v in values:
        if v is not None and not math.isfinite(v):
            raise LineProtocolError(f"float {v} is not finite")
