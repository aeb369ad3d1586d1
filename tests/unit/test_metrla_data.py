"""METR-LA: reading the real files, mph -> km/h, missing cells, and the time mapping (original =
LA local time converted to UTC; shift = ends at the last 5-minute mark, never in the future)."""

from __future__ import annotations

import csv
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from simulators.clock import PacedClock, floor_time
from simulators.metrla.data import (
    MetrLaDataError,
    load_metrla,
    mph_to_kmh,
    original_times,
    parse_speed,
    shifted_times,
)

DATA = Path(__file__).parents[2].parent / "shared/data/metr-la"


def test_the_real_week_loads() -> None:
    data = load_metrla(DATA)
    assert len(data.stations) == 207 and data.rows == data.total_rows == 2016
    assert data.stations[0].id == "773869"
    assert data.stations[0].lat == pytest.approx(34.15497) and data.stations[0].lon < -118
    assert data.missing_cells == 0
    with (DATA / "los_speed.csv").open() as f:
        rows = list(csv.reader(f))
    assert data.speeds_mph[0][0] == float(rows[1][0]) == 64.375
    assert data.speeds_mph[-1][-1] == float(rows[-1][-1])


def test_max_rows_reads_only_the_start() -> None:
    data = load_metrla(DATA, max_rows=12)
    assert data.rows == 12 and data.total_rows == 2016


def test_mph_to_kmh() -> None:
    assert mph_to_kmh(1.0) == 1.609344
    assert mph_to_kmh(65.0) == pytest.approx(104.60736)
    assert mph_to_kmh(64.375) == pytest.approx(103.6015)


@pytest.mark.parametrize("cell", ["", " ", "nan", "inf", "-inf", "0", "0.0", "-3", "abc"])
def test_missing_cells(cell: str) -> None:
    assert parse_speed(cell) is None


def test_original_times_are_los_angeles_local_converted_to_utc() -> None:
    times = original_times(2016)
    assert times[0] == datetime(2012, 3, 1, 8, 0, tzinfo=UTC)  # PST = UTC-8
    assert times[-1] == datetime(2012, 3, 8, 7, 55, tzinfo=UTC)  # 2012-03-07 23:55 local
    assert all(b - a == timedelta(minutes=5) for a, b in itertools.pairwise(times))
    assert all(t.utcoffset() == timedelta(0) for t in times)
    # the conversion is done per row with the zone's rules, not a fixed offset
    assert original_times(1, "Europe/Vienna")[0] == datetime(2012, 2, 29, 23, 0, tzinfo=UTC)


NOW = datetime(2026, 3, 2, 7, 13, 27, 500_000, tzinfo=UTC)


@pytest.mark.parametrize("speedup", [1.5, 12.0, 2016.0, 1e6])
def test_shifted_times_end_at_the_last_mark_when_the_replay_ends(speedup: float) -> None:
    rows = 36
    times = shifted_times(rows, NOW, speedup)
    assert len(times) == rows
    assert all(t.second == 0 and t.minute % 5 == 0 and t.microsecond == 0 for t in times)
    assert all(b - a == timedelta(minutes=5) for a, b in itertools.pairwise(times))
    # the paced clock starts at the first interval's start and reaches the last row after
    # rows * 5 min / speedup of wall time: then the last row is the last full 5-minute mark
    wall_end = NOW + timedelta(seconds=rows * 300 / speedup)
    assert times[-1] == floor_time(wall_end, 300) <= wall_end
    assert times[0] - timedelta(minutes=5) <= NOW


def test_shifted_times_at_real_time_start_now() -> None:
    times = shifted_times(3, NOW, 1.0)
    assert times[0] == datetime(2026, 3, 2, 7, 15, tzinfo=UTC)  # the first interval is running
    assert times[-1] == datetime(2026, 3, 2, 7, 25, tzinfo=UTC)  # released at real time


def test_shifted_times_with_a_paced_clock_never_release_the_future() -> None:
    from simulators.clock import ManualClock

    clock = ManualClock(datetime(2026, 3, 2, 7, 13, 27, tzinfo=UTC))
    times = shifted_times(2016, clock.now(), 2016.0)
    paced = PacedClock(times[0] - timedelta(minutes=5), 2016.0, clock)
    for t in times:
        assert paced.wait_until(t)
        assert t <= clock.now()
    assert times[-1] == floor_time(clock.now(), 300)
    assert clock.now() - times[-1] < timedelta(minutes=5)


def test_bad_data_dirs(tmp_path: Path) -> None:
    with pytest.raises(MetrLaDataError, match="METR-LA data"):
        load_metrla(tmp_path)
    (tmp_path / "graph_sensor_locations.csv").write_text(
        "index,sensor_id,latitude,longitude\n0,1,34.0,-118.0\n1,2,34.1,-118.1\n"
    )
    (tmp_path / "los_speed.csv").write_text("1,2\n60,61\n62\n")
    with pytest.raises(MetrLaDataError, match=":3: 1 columns, header has 2"):
        load_metrla(tmp_path)
    (tmp_path / "los_speed.csv").write_text("1,3\n60,61\n")
    with pytest.raises(MetrLaDataError, match="no location for station"):
        load_metrla(tmp_path)
    (tmp_path / "los_speed.csv").write_text("1,2\n60,0\n,61.5\n")
    data = load_metrla(tmp_path)
    assert data.speeds_mph == ((60.0, None), (None, 61.5)) and data.missing_cells == 2
