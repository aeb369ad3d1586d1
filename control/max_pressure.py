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


class MaxPressure:
    name = "max_pressure"

    def __init__(self, layouts: Mapping[str, JunctionLayout], slot_s: float = 5.0) -> None:
        self.layouts = dict(layouts)
        self.slot_s = slot_s
        self.estimator = QueueEstimator(
            a for lay in layouts.values() for a in lay.approaches.values()
        )

    def per_lane(self, edge: str) -> float:
        st = self.estimator.states.get(edge)
        return st.vehicles / st.approach.lanes if st else 0.0

    def pressure(self, layout: JunctionLayout, phase: int) -> float:
        return sum(
            self.per_lane(lk.from_edge) - self.per_lane(lk.to_edge)
            for lk in layout.served_links(phase)
        )

    def decide(
        self, now_s: float, batches: Sequence[DetectorBatch], status: Mapping[str, SignalStatus]
    ) -> dict[str, int]:
        self.estimator.update(batches, now_s, green_edges(self.layouts, status))
        wants: dict[str, int] = {}
        for site, st in status.items():
            if st.in_transition or st.green_elapsed_s < self.slot_s - 1e-6:
                continue
            if round(st.green_elapsed_s) % round(self.slot_s) != 0:
                continue
            layout = self.layouts[site]
            pressures = [self.pressure(layout, p) for p in range(len(layout.green_states))]
            best = max(range(len(pressures)), key=lambda p: (pressures[p], p == st.phase))
            if best != st.phase and pressures[best] > pressures[st.phase]:
                wants[site] = best
        return wants
