"""citytraffic's adaptive controller at the junctions an operator put under adaptive control:
the field side of the SUMO gateway (docs/signal-workflow.md, mode `adaptive`).

Every simulated second the controller (`control.controllers.make_controller("citytraffic")`)
gets the loop batches of that second from every junction (LoopGateway window `control`: its
queue estimates use the neighbours' loops too) and the signal status of the adaptive junctions;
its wishes go through `PhaseDriver` (minimum green, yellow, all-red) and become the junction's
signal state. A junction enters adaptive control at the next green of its running program (never
cutting a yellow short) and leaves it when its order ends (the gateway then restarts the local
or plan program from its first phase). Like every citytraffic-side controller it sees loop
readings only, never SUMO's vehicle lists.
"""

from __future__ import annotations

from typing import Any

from control.controllers import make_controller
from control.layout import JunctionLayout
from control.phasing import PhaseDriver
from simulators.sumo.loops import LoopGateway

CONTROL_WINDOW = "control"
ADAPTIVE_PROGRAM = "citytraffic-adaptive"


class FieldAdaptive:
    def __init__(
        self,
        tl: Any,
        loops: LoopGateway,
        layouts: dict[str, JunctionLayout],
        tls_of: dict[str, str],
        min_green_s: float = 5.0,
    ) -> None:
        self._tl = tl
        self._loops = loops
        self._layouts = layouts
        self._tls_of = tls_of
        self._min_green_s = min_green_s
        loops.open_window(CONTROL_WINDOW)
        self._ctrl = make_controller("citytraffic", layouts)
        self._drivers: dict[str, PhaseDriver] = {}
        self._pending: set[str] = set()
        self._last_green: dict[str, int] = {}

    def enter(self, site: str) -> None:
        if site not in self._drivers:
            self._pending.add(site)

    def leave(self, site: str) -> None:
        self._pending.discard(site)
        self._drivers.pop(site, None)

    def controls(self, site: str) -> bool:
        return site in self._drivers

    def phase_name(self, site: str, state: str) -> str:
        greens = self._layouts[site].green_states
        if state in greens:
            k = greens.index(state)
            self._last_green[site] = k
            return f"P{k + 1}"
        last = self._last_green.get(site, 0) + 1
        return f"P{last}-yellow" if "y" in state.lower() else f"P{last}-allred"

    def step(self, t: float) -> None:
        """Call once per simulated second, after the loops were sampled."""
        for site in sorted(self._pending):
            state = self._tl.getRedYellowGreenState(self._tls_of[site])
            greens = self._layouts[site].green_states
            if state in greens:  # take over during a green (no intergreen cut short), which
                # then counts as starting now for the minimum green
                self._pending.discard(site)
                self._drivers[site] = PhaseDriver(
                    self._layouts[site], self._min_green_s, greens.index(state), t
                )
                self._tl.setRedYellowGreenState(self._tls_of[site], state)
        batches = self._loops.read(t, 1, CONTROL_WINDOW)
        for site, driver in self._drivers.items():
            state = driver.tick(t)
            if state is not None:
                self._tl.setRedYellowGreenState(self._tls_of[site], state)
        if not self._drivers:
            return
        status = {site: d.status(t) for site, d in self._drivers.items()}
        for site, phase in self._ctrl.decide(t, batches, status).items():
            state = self._drivers[site].request(phase, t)
            if state is not None:
                self._tl.setRedYellowGreenState(self._tls_of[site], state)
