"""Vehicles per approach from loop readings only (input-output counting).

Each approach has loops at its upstream end (`.u`) and at the stop line (`.s`). A vehicle
crossing an upstream loop is appended to the approach's FIFO with its entry time; a vehicle
crossing a stop-line loop removes the oldest entry. The FIFO gives the number of vehicles on the
approach and, with the free-flow travel time between the loops, when each one reaches the stop
line (a vehicle that should have arrived is queued). Where the approach has advance loops (`.a`,
some tens of metres before the stop line), the k-th vehicle crossing them is the k-th of the FIFO
not yet re-timed: its arrival becomes the crossing time + the time from the advance loop (from
its measured speed), which is closer than the upstream loop's prediction made 10-15 s earlier;
a vehicle counted there but never upstream is added. Counts drift when a vehicle vanishes between
the loops (a SUMO teleport, a missed count, a lane change on a loop counted twice): a vehicle
standing on a stop-line loop is always counted as queued, and while an approach shows green and
its stop-line loops see nobody for `idle_purge_s`, entries that should long have arrived are
dropped.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from citytraffic.messaging.payloads import DetectorBatch
from control.layout import Approach

ACCEL_MS2 = 2.6  # passenger car acceleration (SUMO's default vehicle type)
STOP, UPSTREAM, ADVANCE = "stop", "upstream", "advance"


@dataclass(slots=True)
class ApproachState:
    approach: Approach
    travel_s: float
    entries: deque[float] = field(default_factory=deque)
    travel: deque[float] = field(default_factory=deque)  # per vehicle, loop to stop line
    last_departure_s: float = -1e9
    green_idle_s: float = 0.0
    capacity: float = 1.0
    arrival_rate_vps: float = 0.0  # moving average of upstream-loop counts
    stop_occupancy: float = 0.0
    departures: int = 0
    arrivals: int = 0
    advanced: int = 0  # entries at the head that have crossed the advance loops

    @property
    def vehicles(self) -> int:
        return len(self.entries)

    def ready_times(self) -> list[float]:
        """When each vehicle on the approach reaches the stop line unhindered, oldest first."""
        return [e + t for e, t in zip(self.entries, self.travel, strict=True)]

    def pop(self) -> None:
        self.entries.popleft()
        self.travel.popleft()
        self.advanced = max(0, self.advanced - 1)

    def advance(self, t_cross: float, count: int, speed_kmh: float | None) -> None:
        """`count` vehicles crossed the advance loops at `t_cross`: re-time the oldest ones not
        yet re-timed (FIFO), adding those the upstream loops missed."""
        travel = self.travel_from(speed_kmh, self.approach.advance_gap_m)
        for _ in range(count):
            i = self.advanced
            if i < len(self.entries):
                self.travel[i] = t_cross + travel - self.entries[i]
            else:
                self.entries.append(t_cross)
                self.travel.append(travel)
            self.advanced += 1

    def travel_from(self, speed_kmh: float | None, gap_m: float | None = None) -> float:
        """Time over the `gap_m` (default: from the upstream loop) to the stop line for a vehicle
        crossing a loop at `speed_kmh`, accelerating at ACCEL_MS2 up to the free speed (free
        flow when unknown)."""
        vf = self.approach.free_speed_ms
        gap = self.approach.loop_gap_m if gap_m is None else gap_m
        if speed_kmh is None or vf <= 0:
            return gap / vf if vf > 0 else 0.0
        v0 = min(max(speed_kmh / 3.6, 1.0), vf)
        d_acc = (vf * vf - v0 * v0) / (2 * ACCEL_MS2)
        if d_acc >= gap:
            return (-v0 + math.sqrt(v0 * v0 + 2 * ACCEL_MS2 * gap)) / ACCEL_MS2
        return (vf - v0) / ACCEL_MS2 + (gap - d_acc) / vf


class QueueEstimator:
    def __init__(
        self,
        approaches: Iterable[Approach],
        idle_purge_s: float = 8.0,
        rate_window_s: float = 120.0,
    ) -> None:
        self.states: dict[str, ApproachState] = {}
        self.rate_window_s = rate_window_s
        self._detector: dict[str, tuple[str, str]] = {}  # detector -> (edge, stop|up|advance)
        self.idle_purge_s = idle_purge_s
        for a in approaches:
            travel = a.loop_gap_m / a.free_speed_ms if a.free_speed_ms > 0 else 0.0
            self.states[a.edge] = ApproachState(a, travel, capacity=max(1.0, a.capacity_veh))
            for d in a.stop_detectors:
                self._detector[d] = (a.edge, STOP)
            for d in a.upstream_detectors:
                self._detector[d] = (a.edge, UPSTREAM)
            for d in a.advance_detectors:
                self._detector[d] = (a.edge, ADVANCE)

    def update(
        self, batches: Sequence[DetectorBatch], now_s: float, green_edges: frozenset[str]
    ) -> None:
        departed: dict[str, int] = {}
        occupancy: dict[str, list[float]] = {}
        advanced: list[tuple[ApproachState, float, int, float | None]] = []
        for batch in batches:
            t_entry = now_s - batch.interval_s / 2
            for r in batch.readings:
                where = self._detector.get(r.detector)
                if where is None or r.count is None or r.count < 0:
                    continue
                edge, kind = where
                st = self.states[edge]
                if kind == STOP:
                    departed[edge] = departed.get(edge, 0) + r.count
                    occupancy.setdefault(edge, []).append(r.occupancy or 0.0)
                elif kind == UPSTREAM:
                    st.entries.extend([t_entry] * r.count)
                    st.travel.extend([st.travel_from(r.speed_kmh)] * r.count)
                    st.arrivals += r.count
                elif r.count:
                    advanced.append((st, t_entry, r.count, r.speed_kmh))
        for st, t_cross, count, speed in advanced:  # after this interval's upstream counts
            st.advance(t_cross, count, speed)
        interval = batches[0].interval_s if batches else 1
        alpha = min(1.0, interval / self.rate_window_s)
        for st in self.states.values():
            st.arrival_rate_vps *= 1.0 - alpha
        for batch in batches:
            for r in batch.readings:
                where = self._detector.get(r.detector)
                if where is not None and where[1] == UPSTREAM and r.count and r.count > 0:
                    self.states[where[0]].arrival_rate_vps += alpha * r.count / interval
        for edge, st in self.states.items():
            n = departed.get(edge, 0)
            occ = occupancy.get(edge)
            st.stop_occupancy = sum(occ) / len(occ) if occ else 0.0
            standing = sum(1 for o in occ or () if o >= 0.95)
            if standing:  # a vehicle stands on a stop-line loop: it is queued, counted or not
                ready = now_s - st.travel_s
                missing = standing - sum(1 for e in st.entries if e <= ready)
                if missing > 0:
                    st.entries.extendleft([ready - 1.0] * missing)
                    st.travel.extendleft([st.travel_s] * missing)
                    st.advanced += missing
            if n:
                st.last_departure_s = now_s
                st.departures += n
                for _ in range(min(n, len(st.entries))):
                    st.pop()
            if edge in green_edges and n == 0 and st.stop_occupancy == 0.0:
                st.green_idle_s += interval
            else:
                st.green_idle_s = 0.0
            if st.green_idle_s >= self.idle_purge_s:
                limit = now_s - self.idle_purge_s - st.travel_s
                while st.entries and st.entries[0] < limit:
                    st.pop()

    def vehicles(self, edge: str) -> int:
        st = self.states.get(edge)
        return st.vehicles if st else 0

    def fill(self, edge: str) -> float:
        """Share of the approach's storage that is taken (0 for an edge leaving the network)."""
        st = self.states.get(edge)
        if st is None:
            return 0.0
        return min(1.0, len(st.entries) / st.capacity)
