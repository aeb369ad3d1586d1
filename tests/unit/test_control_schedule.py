from __future__ import annotations

import pytest

from control.benchmark import ci95_half_width, format_table, summarise
from control.schedule import Queue, clear_time, queue_delay


def test_vehicle_arriving_during_green_has_no_delay() -> None:
    q = Queue((5.0,), 2.0)
    assert queue_delay(q, [(0.0, 100.0, True)], 100.0, 2.0) == 0.0


def test_queue_waits_for_green_and_discharges_at_saturation_headway() -> None:
    # 3 vehicles ready at 0; green at 10 with 2 s start-up loss: they leave at 12, 14, 16
    q = Queue((0.0, 0.0, 0.0), 2.0)
    assert queue_delay(q, [(10.0, 60.0, False)], 60.0, 2.0) == pytest.approx(12 + 14 + 16)


def test_unserved_vehicles_count_until_the_horizon() -> None:
    q = Queue((0.0, 1.0), 2.0)
    assert queue_delay(q, [], 30.0, 2.0) == pytest.approx(30 + 29)
    # a green too short for the second vehicle: it waits for the next one
    assert queue_delay(q, [(0.0, 1.0, True), (20.0, 30.0, False)], 60.0, 2.0) == pytest.approx(
        0 + 21
    )


def test_clear_time_stops_at_a_gap_in_arrivals() -> None:
    q = Queue((0.0, 0.0, 3.0, 30.0), 2.0)
    # flowing at 0 (a vehicle just left): they leave at 2, 4, 6; the next arrives 24 s after
    # that (gap > 3 s): done at 6
    assert clear_time(q, 0.0, True, 2.0, 3.0) == pytest.approx(6.0)
    # not flowing yet: the first leaves after the 2 s start-up loss: 2, 4, 6 as well
    assert clear_time(q, 0.0, False, 2.0, 3.0) == pytest.approx(6.0)
    assert clear_time(Queue((), 2.0), 7.0, True, 2.0, 3.0) == 7.0


def test_ci95_and_summary() -> None:
    assert ci95_half_width([5.0]) == 0.0
    # n=5, sd of 1..5 = 1.5811, t(4) = 2.776 -> 2.776 * 1.5811 / sqrt(5) = 1.963
    assert ci95_half_width([1, 2, 3, 4, 5]) == pytest.approx(1.963, abs=1e-3)

    class R:
        def __init__(self, loss: float) -> None:
            self.mean_time_loss_s = loss
            self.mean_travel_time_s = loss + 60
            self.arrived = 100
            self.teleports = 1
            self.collisions = 1
            self.emergency_braking = 3
            self.vehicles = 100

    s = summarise([R(10.0), R(20.0)])
    assert s["mean_time_loss_s"] == 15.0 and s["runs"] == 2
    assert s["teleports"] == 1.0 and s["collisions"] == 1.0 and s["emergency_braking"] == 3.0
    table = format_table(
        {
            "scenario": {
                "grid_x": 3,
                "grid_y": 3,
                "demand_vph": 900,
                "pattern": "uniform",
                "duration_s": 600,
                "seeds": [1, 2],
            },
            "controllers": {"fixed": s},
        }
    )
    assert "fixed" in table and "15.0" in table
