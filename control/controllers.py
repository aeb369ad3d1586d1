"""The interface every citytraffic-side signal controller implements, and the registry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from citytraffic.messaging.payloads import DetectorBatch
from control.layout import JunctionLayout
from control.phasing import SignalStatus


class SignalController(Protocol):
    """Sees decoded detector batches (as delivered over MQTT) and the signal status of its
    junctions; answers, per site, the green phase it wants (absent = keep what is shown)."""

    name: str

    def decide(
        self,
        now_s: float,
        batches: Sequence[DetectorBatch],
        status: Mapping[str, SignalStatus],
    ) -> dict[str, int]: ...


SUMO_CONTROLLERS = {"fixed": "static", "actuated": "actuated", "delay_based": "delay_based"}
OWN_CONTROLLERS = ("max_pressure", "citytraffic")
ALL_CONTROLLERS = (*SUMO_CONTROLLERS, *OWN_CONTROLLERS)


def make_controller(name: str, layouts: Mapping[str, JunctionLayout]) -> SignalController:
    if name == "max_pressure":
        from control.max_pressure import MaxPressure

        return MaxPressure(layouts)
    if name == "citytraffic":
        from control.adaptive import ClearingController

        return ClearingController(layouts)
    raise ValueError(f"unknown controller {name!r}; choose from {', '.join(ALL_CONTROLLERS)}")


def green_edges(
    layouts: Mapping[str, JunctionLayout], status: Mapping[str, SignalStatus]
) -> frozenset[str]:
    edges: set[str] = set()
    for site, st in status.items():
        if not st.in_transition:
            edges |= layouts[site].served_edges(st.phase)
    return frozenset(edges)
