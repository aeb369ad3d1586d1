from __future__ import annotations

from datetime import UTC, datetime

from citytraffic.messaging.payloads import DetectorBatch, DetectorValue
from control.estimation import QueueEstimator
from control.layout import Approach

T0 = datetime(2024, 1, 1, tzinfo=UTC)
A = Approach("a", 2, 200.0, 10.0, ("a_0.s", "a_1.s"), ("a_0.u", "a_1.u"), loop_gap_m=150.0)


def batch(values: dict[str, tuple[int, float]]) -> list[DetectorBatch]:
    readings = [DetectorValue(d, c, o, None) for d, (c, o) in values.items()]
    return [DetectorBatch("gw", 0, "J", T0, 1, readings)]


def test_input_output_counting_and_ready_times() -> None:
    est = QueueEstimator([A])
    est.update(batch({"a_0.u": (2, 0.5), "a_1.u": (1, 0.2)}), 10.0, frozenset())
    assert est.vehicles("a") == 3
    # entered mid-interval (9.5 s) + 150 m at 10 m/s = 24.5 s at the stop line
    assert est.states["a"].ready_times() == [24.5, 24.5, 24.5]
    est.update(batch({"a_0.s": (1, 0.3)}), 25.0, frozenset({"a"}))
    assert est.vehicles("a") == 2
    assert est.fill("a") == 2 / (2 * 200 / 7.5)
    assert est.fill("unknown") == 0.0


def test_more_departures_than_entries_never_go_negative() -> None:
    est = QueueEstimator([A])
    est.update(batch({"a_0.s": (3, 0.2)}), 5.0, frozenset())
    assert est.vehicles("a") == 0


def test_vehicle_standing_on_stop_loop_is_queued_even_if_never_counted() -> None:
    est = QueueEstimator([A])
    est.update(batch({"a_0.s": (0, 1.0), "a_1.s": (0, 0.0)}), 50.0, frozenset())
    assert est.vehicles("a") == 1
    assert est.states["a"].ready_times()[0] <= 50.0


def test_phantom_vehicles_are_purged_after_idle_green() -> None:
    est = QueueEstimator([A], idle_purge_s=8.0)
    est.update(batch({"a_0.u": (1, 0.1)}), 1.0, frozenset())
    for t in range(2, 60):  # green, nobody ever reaches the stop line
        est.update(batch({"a_0.s": (0, 0.0)}), float(t), frozenset({"a"}))
    assert est.vehicles("a") == 0


def test_unknown_detectors_and_missing_counts_are_ignored() -> None:
    est = QueueEstimator([A])
    readings = [DetectorValue("zz.u", 5, 0.1, None), DetectorValue("a_0.u", None, None, None)]
    est.update([DetectorBatch("gw", 0, "J", T0, 1, readings)], 1.0, frozenset())
    assert est.vehicles("a") == 0


ADV = Approach(
    "b",
    2,
    200.0,
    10.0,
    ("b_0.s",),
    ("b_0.u",),
    loop_gap_m=150.0,
    advance_detectors=("b_0.a",),
    advance_gap_m=50.0,
)


def test_advance_loop_re_times_the_oldest_vehicles_not_yet_re_timed() -> None:
    est = QueueEstimator([ADV])
    st = est.states["b"]
    est.update(batch({"b_0.u": (2, 0.3)}), 10.0, frozenset())
    assert st.ready_times() == [24.5, 24.5]  # 9.5 s + 150 m at 10 m/s
    # the first one was slower than free flow: it crosses the advance loop only at 21.5 s and
    # reaches the stop line 50 m at 10 m/s later; the second is still predicted from upstream
    est.update(batch({"b_0.a": (1, 0.2)}), 22.0, frozenset())
    assert st.ready_times() == [26.5, 24.5] and st.advanced == 1
    est.update(batch({"b_0.a": (1, 0.2)}), 23.0, frozenset())
    assert st.ready_times() == [26.5, 27.5] and st.advanced == 2
    # the first leaves: the other one stays re-timed
    est.update(batch({"b_0.s": (1, 0.2)}), 27.0, frozenset({"b"}))
    assert st.ready_times() == [27.5] and st.advanced == 1


def test_advance_loop_adds_a_vehicle_the_upstream_loop_missed() -> None:
    est = QueueEstimator([ADV])
    est.update(batch({"b_0.a": (1, 0.2)}), 30.0, frozenset())
    assert est.vehicles("b") == 1 and est.states["b"].ready_times() == [34.5]
