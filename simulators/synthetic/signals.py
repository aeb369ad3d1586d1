"""Fixed-time signal plans of the synthetic junctions (pure).

A plan runs `NS` green, yellow, all-red, `EW` green, yellow, all-red. Greens split the cycle's
effective green by the corridor demand weights; offsets give eastbound traffic a green wave at
the free-flow speed. The cycle is anchored on the Unix epoch, so the state at a given time is the
same whatever time the run started.

The state string has one character per signal group in the junction's order (N, E, S, W):
`G` green, `y` yellow, `r` red. The reported `phase` is the junction phase id during its green and
`<phase>-yellow` / `<phase>-allred` during the intergreen that follows it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from simulators.synthetic.city import APPROACHES, City

PLAN_ID = "P1"


@dataclass(frozen=True, slots=True)
class Step:
    phase: str
    state: str
    duration_s: int


@dataclass(frozen=True, slots=True)
class SignalStatus:
    site: str
    plan: str
    phase: str
    state: str
    time_to_change_s: float


@dataclass(frozen=True, slots=True)
class FixedTimePlan:
    site: str
    plan: str
    steps: tuple[Step, ...]
    offset_s: int

    @property
    def cycle_s(self) -> int:
        return sum(s.duration_s for s in self.steps)

    def green_share(self, approach: str) -> float:
        """g/C of the signal group of this approach."""
        i = APPROACHES.index(approach)
        green = sum(s.duration_s for s in self.steps if s.state[i] == "G")
        return green / self.cycle_s

    def _position(self, t: datetime) -> tuple[int, float]:
        """(step index, seconds already spent in it) at time t."""
        tau = (t.timestamp() - self.offset_s) % self.cycle_s
        for i, s in enumerate(self.steps):
            if tau < s.duration_s:
                return i, tau
            tau -= s.duration_s
        return 0, 0.0  # unreachable with float rounding aside

    def status_at(self, t: datetime) -> SignalStatus:
        i, spent = self._position(t)
        s = self.steps[i]
        return SignalStatus(self.site, self.plan, s.phase, s.state, round(s.duration_s - spent, 3))

    def changes(self, t0: datetime, t1: datetime) -> list[tuple[datetime, SignalStatus]]:
        """Every state change at a time t with t0 < t <= t1, in order."""
        out: list[tuple[datetime, SignalStatus]] = []
        start_s = t0.timestamp()
        cycle_start = math.floor((start_s - self.offset_s) / self.cycle_s) * self.cycle_s
        boundary = float(cycle_start + self.offset_s)
        end_s = t1.timestamp()
        while boundary <= end_s:
            for s in self.steps:
                if start_s < boundary <= end_s:
                    when = datetime.fromtimestamp(boundary, UTC)
                    out.append(
                        (when, SignalStatus(self.site, self.plan, s.phase, s.state, s.duration_s))
                    )
                boundary += s.duration_s
        return out


def plans_for(city: City) -> dict[str, FixedTimePlan]:
    """One fixed-time plan per junction of the city."""
    cfg = city.config
    intergreen_s = cfg.yellow_s + cfg.all_red_s
    green_total_s = cfg.cycle_s - 2 * intergreen_s
    g_ew = round(green_total_s * cfg.ew_weight / (cfg.ew_weight + cfg.ns_weight))
    g_ew = min(max(g_ew, 10), green_total_s - 10)
    g_ns = green_total_s - g_ew
    ns_green, ew_green = _state("NS", "G"), _state("EW", "G")
    steps = (
        Step("NS", ns_green, g_ns),
        Step("NS-yellow", _state("NS", "y"), cfg.yellow_s),
        Step("NS-allred", "r" * len(APPROACHES), cfg.all_red_s),
        Step("EW", ew_green, g_ew),
        Step("EW-yellow", _state("EW", "y"), cfg.yellow_s),
        Step("EW-allred", "r" * len(APPROACHES), cfg.all_red_s),
    )
    speed_ms = cfg.free_flow_kmh / 3.6
    plans: dict[str, FixedTimePlan] = {}
    for junction in city.network.junctions:
        col = int(junction.site.split("-")[1])
        offset = round(col * cfg.block_m / speed_ms) % cfg.cycle_s
        plans[junction.site] = FixedTimePlan(junction.site, PLAN_ID, steps, offset)
    return plans


def _state(phase: str, colour: str) -> str:
    return "".join(colour if a in phase else "r" for a in APPROACHES)
