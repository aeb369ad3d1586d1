"""Point-queue delay of a green schedule over a short horizon (pure; used by the adaptive
controller to decide between "switch now" and "extend, then switch").

Each approach is a FIFO of vehicles with the time they reach the stop line at free flow. While
its phase is green it discharges one vehicle per `headway_s` (saturation flow), the first one
`startup_s` after the green starts unless it is already flowing. A vehicle's delay is its
departure minus its arrival; a vehicle not served before the horizon counts until the horizon.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Queue:
    ready_s: tuple[float, ...]  # stop-line arrival times, FIFO order
    headway_s: float  # saturation headway of the whole approach (per-lane headway / lanes)


Green = tuple[float, float, bool]  # (start, end, already flowing)


def queue_delay(q: Queue, greens: Sequence[Green], horizon_s: float, startup_s: float) -> float:
    total = 0.0
    prev = -1e18
    k = 0
    n = len(greens)
    for ready in q.ready_s:
        if ready >= horizon_s:
            break
        t = max(ready, prev + q.headway_s)
        while k < n:
            start, end, flowing = greens[k]
            first = start if flowing else start + startup_s
            if t < first:
                t = first
            if t <= end:
                break
            k += 1
            prev = -1e18
        if k >= n or t >= horizon_s:
            total += horizon_s - ready if ready < horizon_s else 0.0
            # every later vehicle is unserved too
            continue
        total += t - ready
        prev = t
    return total


def clear_time(q: Queue, start_s: float, flowing: bool, startup_s: float, gap_s: float) -> float:
    """When an approach given green at `start_s` has served its vehicles up to the first gap in
    arrivals longer than `gap_s` (the end of its queue and platoon), as an absolute time."""
    t_prev = start_s if flowing else start_s + startup_s - q.headway_s
    for ready in q.ready_s:
        t = max(ready, t_prev + q.headway_s)
        if t - t_prev > gap_s + q.headway_s:
            break
        t_prev = t
    return max(start_s, t_prev)
