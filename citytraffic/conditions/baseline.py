"""Time-of-day baseline of each detector: the typical occupancy and speed per slot of the day.

Fit it on past days (unflagged samples only) and hand it to the incident detector: a station
whose congestion is usual for that time of day (recurrent peak congestion) then raises no
single-station alarm.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from citytraffic.conditions.samples import DetectorSample, reading_flags

NS = 1_000_000_000


class TimeOfDayBaseline:
    def __init__(
        self,
        typical: dict[str, dict[int, tuple[float | None, float | None]]],
        slot_s: int = 900,
        timezone: str = "UTC",
    ) -> None:
        self.typical_by_slot = typical  # detector -> slot -> (occupancy, speed_kmh) medians
        self.slot_s = slot_s
        self.tz = ZoneInfo(timezone)

    @classmethod
    def fit(
        cls,
        samples: Iterable[DetectorSample],
        slot_s: int = 900,
        timezone: str = "UTC",
        min_samples: int = 3,
    ) -> TimeOfDayBaseline:
        tz = ZoneInfo(timezone)
        occ: dict[tuple[str, int], list[float]] = defaultdict(list)
        speed: dict[tuple[str, int], list[float]] = defaultdict(list)
        for s in samples:
            if reading_flags(s):
                continue
            key = (s.detector, _slot(s.time_ns, slot_s, tz))
            if s.occupancy is not None:
                occ[key].append(s.occupancy)
            if s.speed_kmh is not None:
                speed[key].append(s.speed_kmh)
        typical: dict[str, dict[int, tuple[float | None, float | None]]] = defaultdict(dict)
        for key in set(occ) | set(speed):
            o, v = occ.get(key, []), speed.get(key, [])
            typical[key[0]][key[1]] = (
                statistics.median(o) if len(o) >= min_samples else None,
                statistics.median(v) if len(v) >= min_samples else None,
            )
        return cls(dict(typical), slot_s, timezone)

    def typical(self, detector: str, time_ns: int) -> tuple[float | None, float | None]:
        """(occupancy, speed_kmh) usual for this detector at this time of day (None: unknown)."""
        slots = self.typical_by_slot.get(detector)
        if not slots:
            return None, None
        return slots.get(_slot(time_ns, self.slot_s, self.tz), (None, None))


def _slot(time_ns: int, slot_s: int, tz: ZoneInfo) -> int:
    t = datetime.fromtimestamp(time_ns / NS, tz)
    return (t.hour * 3600 + t.minute * 60 + t.second) // slot_s
