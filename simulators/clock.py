"""Clock policy shared by every simulator (docs/mqtt.md, "Clock policy").

1. No source ever emits a timestamp in the future: an event stamped `t` is released only once the
   wall clock has reached `t`.
2. A sped-up source starts in the past and runs `speedup` times faster than the wall clock until
   its simulated time catches up with now; from then on it runs at real time (rule 1 holds it back).

`PacedClock.wait_until(t)` enforces both: it returns once the paced time
`start + speedup * (wall elapsed)` has reached `t` AND the wall clock has reached `t`.
`default_start` picks the start so that a run of `duration_s` simulated seconds at `speedup`
catches up with now exactly at its end.

Time comes from an injectable `Clock` so tests run without sleeping (`ManualClock`).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

MAX_SLEEP_CHUNK_S = 0.5
"""Sleeps are cut into chunks so a stop request is seen quickly."""

DEFAULT_BACKFILL_S = 3600.0
"""How far back an open-ended sped-up run starts (it then catches up and runs at real time)."""


class Clock(Protocol):
    """Wall time (timezone-aware UTC), a monotonic second counter, and a way to wait."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock. `sleep` wakes early when `stop` is set."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        self._stop = stop

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self._stop is not None:
            self._stop.wait(seconds)
        else:
            time.sleep(seconds)


class ManualClock:
    """A fake clock for tests: `sleep` advances both wall and monotonic time, nothing waits."""

    def __init__(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware time")
        self._now = now.astimezone(UTC)
        self._mono = 1000.0
        self.slept_s = 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)
            self.slept_s += seconds

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds


def floor_time(t: datetime, step_s: int) -> datetime:
    """Round a time down to a multiple of `step_s` seconds since the epoch (UTC)."""
    if step_s < 1:
        raise ValueError("step_s must be >= 1")
    epoch_s = math.floor(t.timestamp())
    return datetime.fromtimestamp(epoch_s - epoch_s % step_s, UTC)


def default_start(
    now: datetime,
    speedup: float,
    duration_s: float | None,
    interval_s: int,
    backfill_s: float = DEFAULT_BACKFILL_S,
) -> datetime:
    """Start time of a run, aligned down to the interval grid, never after `now`.

    - real time (speedup <= 1): the current interval boundary;
    - sped up with a duration D: now - D * (1 - 1/speedup), so the simulated time reaches now
      exactly when D simulated seconds are done (the whole run goes at full speed);
    - sped up and open-ended: now - backfill_s; the run catches up, then goes at real time.
    """
    if speedup <= 0 or not math.isfinite(speedup):
        raise ValueError(f"speedup must be a positive number, got {speedup}")
    if speedup <= 1.0:
        lookback_s = 0.0
    elif duration_s is not None:
        lookback_s = duration_s * (1.0 - 1.0 / speedup)
    else:
        lookback_s = backfill_s
    return floor_time(now - timedelta(seconds=lookback_s), interval_s)


@dataclass
class PacedClock:
    """Simulated time that starts at `start`, runs `speedup` times faster than the wall clock and
    never passes the wall clock."""

    start: datetime
    speedup: float
    clock: Clock

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if self.speedup <= 0 or not math.isfinite(self.speedup):
            raise ValueError(f"speedup must be a positive number, got {self.speedup}")
        self._mono0 = self.clock.monotonic()

    def sim_now(self) -> datetime:
        """Where the simulation may be now: min(paced time, wall time)."""
        elapsed_s = max(0.0, self.clock.monotonic() - self._mono0)
        paced = self.start + timedelta(seconds=elapsed_s * self.speedup)
        return min(paced, self.clock.now())

    def lag_s(self) -> float:
        """How far behind the wall clock the simulation is (0 once it has caught up)."""
        return max(0.0, (self.clock.now() - self.sim_now()).total_seconds())

    def wait_until(self, t: datetime, stop: threading.Event | None = None) -> bool:
        """Block until an event stamped `t` may be emitted. False when `stop` was set first."""
        while True:
            if stop is not None and stop.is_set():
                return False
            elapsed_s = self.clock.monotonic() - self._mono0
            paced_wait_s = (t - self.start).total_seconds() / self.speedup - elapsed_s
            wall_wait_s = (t - self.clock.now()).total_seconds()
            wait_s = max(paced_wait_s, wall_wait_s)
            if wait_s <= 0:
                return True
            # at least 1 ms: datetimes resolve microseconds, a tinier step could never land
            self.clock.sleep(min(max(wait_s, 0.001), MAX_SLEEP_CHUNK_S))
