"""citytraffic's own controller: queue clearing by service rate, with anticipation of platoons,
spill-back protection and anti-starvation. Sees loop readings only (through QueueEstimator).

At every decision (each interval, once the minimum green is over) each junction rates each green
phase by the vehicles it would serve per second if it were chosen now, switching losses included
(self-organising signals, Lämmer & Helbing 2008, "clear the queue with the best rate"):

- every vehicle on an approach is ready at the stop line at its estimated free-flow arrival
  (upstream loop time + travel time between the loops); the approach discharges them at the
  saturation headway per lane (`sat_headway_s`), starting now for the phase being shown and after
  yellow + all-red + start-up loss for any other phase;
- a phase's rate is the best, over the next `horizon_s`, of value served / time needed, where a
  vehicle's value grows with how long it has waited (1 + wait / `wait_scale_s`): serving the most
  delay per second is what minimises total delay, and a long-waiting queue cannot starve;
- spill-back and pressure (as in max-pressure, Varaiya 2013): a movement's discharge is scaled
  by the free share of its outgoing approach, 1 - fill / `spill_full` x `downstream_weight`
  (1: a half-full link downstream halves it); a nearly full one (fill >= `spill_full`) keeps
  only `blocked_share` (its vehicles would block the junction; never zero, so a junction cannot
  deadlock on a miscount); and an approach's value grows with its own fill
  (1 + `pressure_weight` x fill), so approaches filling up win over ones feeding full links;
- the switch decision compares, in a point-queue model over `lookahead_s` (control.schedule),
  the delay of switching now with extending until the current queue and visible platoon have
  passed; only vehicles the loops have seen count (`forecast=False`, the default): arrivals
  downstream of other signals come in platoons, and assuming a steady stream of unseen vehicles
  kept greens too long under heavy demand (measured, docs/control.md); `forecast=True` adds
  unseen vehicles at the measured arrival rate;
- limits: minimum green `min_green_s`, maximum green `max_green_s`; a phase with vehicles that
  has been red for `max_red_s` is served next; phases with nobody waiting are skipped;
- congestion mode: while any approach of a junction is `pressure_fill` full, the junction is run
  by max-pressure instead (every `pressure_slot_s` of green, switch if another phase's pressure
  beats the current one's by more than `pressure_margin`, the switching loss), keeping the
  max-red rule; queues backing up need links kept moving more than a short-horizon delay model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from citytraffic.messaging.payloads import DetectorBatch
from control.controllers import green_edges
from control.estimation import QueueEstimator
from control.layout import JunctionLayout
from control.max_pressure import pressure_choice, slot_boundary
from control.phasing import SignalStatus
from control.schedule import Queue, clear_time, queue_delay

DIRECTION_WEIGHT = {"s": 1.0, "l": 0.5, "r": 0.5, "t": 0.1, "L": 0.3, "R": 0.3}


@dataclass(frozen=True, slots=True)
class ClearingParams:
    sat_headway_s: float = 2.0
    startup_loss_s: float = 2.0
    horizon_s: float = 40.0
    wait_scale_s: float = 60.0
    min_green_s: float = 5.0
    max_green_s: float = 60.0
    gap_s: float = 3.0
    lookahead_s: float = 120.0
    max_red_s: float = 100.0
    spill_full: float = 0.85
    pressure_weight: float = 1.0
    lane_utilisation: float = 0.7
    forecast: bool = False
    idle_purge_s: float = 4.0
    blocked_share: float = 0.05
    downstream_weight: float = 1.0
    pressure_fill: float = 0.3
    pressure_slot_s: float = 5.0
    pressure_margin: float = 3.0


class ClearingController:
    name = "citytraffic"

    def __init__(
        self, layouts: Mapping[str, JunctionLayout], params: ClearingParams | None = None
    ) -> None:
        self.layouts = dict(layouts)
        self.p = params or ClearingParams()
        self.estimator = QueueEstimator(
            (a for lay in layouts.values() for a in lay.approaches.values()),
            idle_purge_s=self.p.idle_purge_s,
        )

    def _edge_factor(self, layout: JunctionLayout, edge: str, phase: int) -> float:
        """Share of an approach's discharge that can go: downstream space and pressure."""
        est = self.estimator
        total = 0.0
        ok = 0.0
        for lk in layout.served_links(phase):
            if lk.from_edge != edge:
                continue
            w = DIRECTION_WEIGHT.get(lk.direction, 0.5)
            fill = est.fill(lk.to_edge)
            room = (
                self.p.blocked_share
                if fill >= self.p.spill_full
                else 1.0 - fill / self.p.spill_full * self.p.downstream_weight
            )
            total += w
            ok += w * room
        if total == 0:
            return 0.0
        return (ok / total) * (1.0 + self.p.pressure_weight * est.fill(edge))

    def rate(self, layout: JunctionLayout, phase: int, now_s: float, current: bool) -> float:
        p = self.p
        start = now_s if current else now_s + layout.yellow_s + layout.all_red_s + p.startup_loss_s
        end = now_s + p.horizon_s
        served: list[tuple[float, float]] = []
        for edge in layout.served_edges(phase):
            st = self.estimator.states.get(edge)
            if st is None or not st.entries:
                continue
            factor = self._edge_factor(layout, edge, phase)
            if factor <= 0:
                continue
            headway = p.sat_headway_s / (st.approach.lanes * p.lane_utilisation)
            prev = start - headway
            for ready in st.ready_times():
                leave = max(ready, prev + headway)
                if leave > end:
                    break
                prev = leave
                value = factor * (1.0 + max(0.0, now_s - ready) / p.wait_scale_s)
                served.append((leave + headway, value))
        if not served:
            return 0.0
        served.sort()
        best = 0.0
        acc = 0.0
        for done, value in served:
            acc += value
            best = max(best, acc / max(done - now_s, 1e-3))
        return best

    def _waiting(self, layout: JunctionLayout, st: SignalStatus) -> list[int]:
        """The phases other than the one shown with vehicles on an approach they serve."""
        return [
            j
            for j in range(len(layout.green_states))
            if j != st.phase and any(self.estimator.vehicles(e) for e in layout.served_edges(j))
        ]

    def _starved(self, st: SignalStatus, waiting: list[int], now_s: float) -> list[int]:
        """Those of `waiting` that have been red for `max_red_s`."""
        return [j for j in waiting if now_s - st.red_since_s[j] >= self.p.max_red_s]

    def congested(self, layout: JunctionLayout) -> bool:
        """Some approach of the junction is `pressure_fill` full (estimated)."""
        return any(self.estimator.fill(e) >= self.p.pressure_fill for e in layout.approaches)

    def _queues(
        self,
        layout: JunctionLayout,
        edges: frozenset[str],
        phase: int,
        now_s: float,
        forecast: bool = False,
    ) -> dict[str, Queue]:
        out: dict[str, Queue] = {}
        for edge in edges:
            st = self.estimator.states.get(edge)
            if st is None or (not st.entries and not forecast):
                continue
            factor = (
                self._edge_factor(layout, edge, phase)
                if edge in layout.served_edges(phase)
                else 1.0
            )
            headway = (
                self.p.sat_headway_s
                / (st.approach.lanes * self.p.lane_utilisation)
                / max(factor, 1e-3)
            )
            ready = st.ready_times()
            if forecast and st.arrival_rate_vps > 1e-3:
                # vehicles not yet seen arrive at the measured rate after the visible ones
                step = 1.0 / st.arrival_rate_vps
                t = max([now_s + st.travel_s, *ready[-1:]]) + step
                end = now_s + self.p.lookahead_s
                while t < end and len(ready) < 200:
                    ready.append(t)
                    t += step
            out[edge] = Queue(tuple(ready), headway)
        return out

    def _plan_delay(
        self, layout: JunctionLayout, cur: int, nxt: int, switch_s: float, now_s: float
    ) -> float:
        """Delay of: current green until switch_s, next phase until its queue clears, back."""
        p = self.p
        tau = layout.yellow_s + layout.all_red_s
        horizon = now_s + p.lookahead_s
        cur_edges, nxt_edges = layout.served_edges(cur), layout.served_edges(nxt)
        start = switch_s + tau
        nxt_q = self._queues(layout, nxt_edges, nxt, now_s)
        end = max(
            [clear_time(q, start, False, p.startup_loss_s, p.gap_s) for q in nxt_q.values()],
            default=start,
        )
        end = min(max(end, start + p.min_green_s), start + p.max_green_s)
        back = end + tau
        total = 0.0
        for edge, q in self._queues(
            layout, cur_edges | nxt_edges, cur, now_s, self.p.forecast
        ).items():
            greens: list[tuple[float, float, bool]] = []
            if edge in cur_edges:
                greens += [(now_s, switch_s, True), (back, horizon, False)]
            if edge in nxt_edges:
                greens.append((start, end, False))
            greens.sort()
            total += queue_delay(q, greens, horizon, p.startup_loss_s)
        return total

    def decide(
        self, now_s: float, batches: Sequence[DetectorBatch], status: Mapping[str, SignalStatus]
    ) -> dict[str, int]:
        self.estimator.update(batches, now_s, green_edges(self.layouts, status))
        wants: dict[str, int] = {}
        p = self.p
        for site, st in status.items():
            layout = self.layouts[site]
            if self.congested(layout):
                if slot_boundary(st, p.pressure_slot_s):
                    starved = self._starved(st, self._waiting(layout, st), now_s)
                    best = (
                        min(starved, key=lambda j: st.red_since_s[j])
                        if starved
                        else pressure_choice(self.estimator, layout, st.phase, p.pressure_margin)
                    )
                    if best is not None:
                        wants[site] = best
                continue
            if st.in_transition or st.green_elapsed_s < p.min_green_s:
                continue
            cur = st.phase
            waiting = self._waiting(layout, st)
            if not waiting:
                continue
            rates = {j: self.rate(layout, j, now_s, False) for j in waiting}
            starved = self._starved(st, waiting, now_s)
            nxt = max(starved or waiting, key=lambda j: rates[j])
            if starved or st.green_elapsed_s >= p.max_green_s:
                wants[site] = nxt
                continue
            cur_q = self._queues(layout, layout.served_edges(cur), cur, now_s)
            ext_end = max(
                [clear_time(q, now_s, True, p.startup_loss_s, p.gap_s) for q in cur_q.values()],
                default=now_s,
            )
            ext_end = min(ext_end, now_s + p.max_green_s - st.green_elapsed_s)
            if ext_end - now_s < 1.0:
                wants[site] = nxt
                continue
            switch_now = self._plan_delay(layout, cur, nxt, now_s, now_s)
            extend = self._plan_delay(layout, cur, nxt, ext_end, now_s)
            if switch_now < extend:
                wants[site] = nxt
        return wants
