"""Clock policy (simulators/clock.py) with an injected clock: nothing is ever released before its
timestamp, a sped-up source catches up from the past, then runs at real time."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

import pytest

from simulators.clock import ManualClock, PacedClock, default_start, floor_time

NOW = datetime(2026, 3, 2, 12, 0, 30, 250_000, tzinfo=UTC)


def test_floor_time_aligns_to_the_epoch_grid() -> None:
    assert floor_time(NOW, 60) == datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert floor_time(NOW, 20) == datetime(2026, 3, 2, 12, 0, 20, tzinfo=UTC)
    with pytest.raises(ValueError):
        floor_time(NOW, 0)


def test_default_start_real_time_is_the_current_interval() -> None:
    assert default_start(NOW, 1.0, None, 60) == datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert default_start(NOW, 1.0, 3600, 60) == datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_default_start_sped_up_with_duration_catches_up_at_the_end() -> None:
    start = default_start(NOW, 10.0, 3600.0, 60)
    # now - 3600 * (1 - 1/10) = now - 3240 s, floored to the minute
    assert start == floor_time(NOW - timedelta(seconds=3240), 60)
    assert start <= NOW


def test_default_start_open_ended_backfills() -> None:
    assert default_start(NOW, 100.0, None, 60, backfill_s=7200) == floor_time(
        NOW - timedelta(hours=2), 60
    )


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
def test_bad_speedup_is_refused(bad: float) -> None:
    with pytest.raises(ValueError):
        default_start(NOW, bad, None, 60)
    with pytest.raises(ValueError):
        PacedClock(NOW, bad, ManualClock(NOW))


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        ManualClock(datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        PacedClock(datetime(2026, 1, 1), 2.0, ManualClock(NOW))


def test_sped_up_source_runs_fast_then_slows_to_real_time_and_never_emits_future() -> None:
    clock = ManualClock(NOW)
    speedup = 10.0
    start = NOW - timedelta(seconds=900)  # catches up after 900 / (10 - 1) = 100 wall seconds
    paced = PacedClock(start, speedup, clock)
    released: list[tuple[datetime, datetime, float]] = []  # (event ts, wall now, mono)
    for k in range(1, 41):  # an event every 60 simulated seconds, up to 2400 s after start
        ts = start + timedelta(seconds=60 * k)
        assert paced.wait_until(ts)
        released.append((ts, clock.now(), clock.monotonic()))
    mono0 = released[0][2] - 6.0  # the first event came after 60 / 10 wall seconds
    for ts, wall, mono in released:
        assert ts <= wall, "an event was released before its timestamp"
        sim_s = (ts - start).total_seconds()
        if sim_s <= 900 * speedup / (speedup - 1):  # still catching up: 10x
            assert mono - mono0 == pytest.approx(sim_s / speedup, abs=0.01)
        else:  # caught up: released at its own time, give or take the 1 ms step
            assert (wall - ts).total_seconds() == pytest.approx(0.0, abs=0.002)
    # after catching up, wall time between events equals simulated time between them
    late = [r for r in released if (r[0] - start).total_seconds() > 1200]
    gaps = [b[2] - a[2] for a, b in itertools.pairwise(late)]
    assert gaps and all(g == pytest.approx(60.0, abs=0.01) for g in gaps)
    assert paced.lag_s() == pytest.approx(0.0, abs=0.01)


def test_real_time_source_waits_for_the_wall_clock() -> None:
    clock = ManualClock(NOW)
    paced = PacedClock(NOW, 1.0, clock)
    assert paced.wait_until(NOW + timedelta(seconds=20))
    assert clock.now() >= NOW + timedelta(seconds=20)
    assert clock.slept_s == pytest.approx(20.0, abs=0.01)


def test_sim_now_never_passes_the_wall_clock() -> None:
    clock = ManualClock(NOW)
    paced = PacedClock(NOW - timedelta(seconds=30), 1000.0, clock)
    clock.advance(5.0)
    assert paced.sim_now() == clock.now()


def test_stop_event_ends_the_wait() -> None:
    clock = ManualClock(NOW)
    paced = PacedClock(NOW, 1.0, clock)
    stop = threading.Event()
    stop.set()
    assert paced.wait_until(NOW + timedelta(hours=1), stop) is False
    assert clock.slept_s == 0.0
