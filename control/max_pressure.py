"""Plain max-pressure (Varaiya 2013) on loop-estimated queues.

Every `slot_s` of green, each junction serves the green phase with the largest pressure: the sum
over the signal links it serves of (vehicles per lane on the incoming approach - vehicles per lane
on the outgoing one; 0 for an edge leaving the network). Saturation flow is the same for every
link here, so it drops out. Queues come from QueueEstimator (loop counts only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from citytraffic.messaging.payloads import DetectorBatch
from control.controllers import green_edges
from control.estimation import QueueEstimator
from control.layout import JunctionLayout
from control.phasing import SignalStatus


def per_lane(estimator: QueueEstimator, edge: str) -> float:
    """Estimated vehicles per lane on an approach (0 for an edge leaving the network)."""
    st = estimator.states.get(edge)
    return st.vehicles / st.approach.lanes if st else 0.0


def phase_pressure(estimator: QueueEstimator, layout: JunctionLayout, phase: int) -> float:
    """Sum over the signal links green in `phase` of (vehicles per lane upstream - downstream)."""
    return sum(
        per_lane(estimator, lk.from_edge) - per_lane(estimator, lk.to_edge)
        for lk in layout.served_links(phase)
    )


def pressure_choice(
    estimator: QueueEstimator, layout: JunctionLayout, current: int, margin: float = 0.0
) -> int | None:
    """The green phase with the largest pressure if it beats the current one by more than
    `margin`, else None (plain max-pressure: margin 0)."""
    pressures = [phase_pressure(estimator, layout, p) for p in range(len(layout.green_states))]
    best = max(range(len(pressures)), key=lambda p: (pressures[p], p == current))
    return best if best != current and pressures[best] > pressures[current] + margin else None


def slot_boundary(st: SignalStatus, slot_s: float) -> bool:
    """True at the end of each `slot_s` of green (never during a transition)."""
    if st.in_transition or st.green_elapsed_s < slot_s - 1e-6:
        return False
    return round(st.green_elapsed_s) % round(slot_s) == 0


class MaxPressure:
    name = "max_pressure"

    def __init__(self, layouts: Mapping[str, JunctionLayout], slot_s: float = 5.0) -> None:
        self.layouts = dict(layouts)
        self.slot_s = slot_s
        self.estimator = QueueEstimator(
            a for lay in layouts.values() for a in lay.approaches.values()
        )

    def decide(
        self, now_s: float, batches: Sequence[DetectorBatch], status: Mapping[str, SignalStatus]
    ) -> dict[str, int]:
        self.estimator.update(batches, now_s, green_edges(self.layouts, status))
        wants: dict[str, int] = {}
        for site, st in status.items():
            if not slot_boundary(st, self.slot_s):
                continue
            best = pressure_choice(self.estimator, self.layouts[site], st.phase)
            if best is not None:
                wants[site] = best
        return wants
