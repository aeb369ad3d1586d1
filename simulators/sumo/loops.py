"""Read the scenario's E1 loops through libsumo the way a junction gateway would report them.

Per site (junction) and interval: one `DetectorBatch` with per loop the count of vehicles that
reached the loop during the interval (rising edges, as a real loop counts: SUMO's own interval
"vehicle number" counts a vehicle standing on the loop again in every interval, and its interval
occupancy leaves out a vehicle that stands on the loop), the occupancy as a fraction, and the
mean speed in km/h (None when no vehicle passed). Every batch is encoded and
decoded with the MQTT payload codec, so consumers get exactly what ingest would get.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import quoteattr

from citytraffic.messaging.payloads import DetectorBatch, DetectorValue, decode, encode
from simulators.sumo.ids import safe_id
from simulators.sumo.netparse import NetInfo

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class LoopSpec:
    """An E1 loop, reporting to `site`: `<lane>.s` at the stop line, `<lane>.u` upstream (at the
    lane's start) or `<lane>.a` in advance of the stop line."""

    id: str
    site: str
    lane: str
    pos_m: float
    kind: str = "stop"  # stop | upstream | advance


# A stop-line loop must lie under the first waiting vehicle. SUMO's vehicles (5 m long) stop
# with their front 0-3.5 m short of the line (a permissive left-turner waiting for a gap, or a
# queue creeping into a blocked junction, stops about 3.1 m short): a loop 3 m before the line
# then sees nobody, and a controller takes a standing queue for an empty approach (measured:
# 4x4, 10800 veh/h, seed 2, estimated 2 vehicles for 25 on an entry link). 5 m is covered in
# every one of these positions.
STOP_LOOP_M = 5.0
UPSTREAM_LOOP_M = 12.0
# An advance loop (as in actuated practice, where it sits at the start of the dilemma zone) 60 m
# before the stop line, about 4.3 s at 50 km/h: it re-times each vehicle on its way, where the
# upstream loop alone predicts its arrival from 10-15 s away. Measured: docs/control.md.
ADVANCE_LOOP_M = 60.0
MIN_LOOP_SPACING_M = 20.0  # an advance loop closer than this to another loop is left out


def loop_specs(
    info: NetInfo,
    stop_loop_m: float = STOP_LOOP_M,
    upstream_loop_m: float | None = UPSTREAM_LOOP_M,
    advance_loop_m: float | None = ADVANCE_LOOP_M,
) -> list[LoopSpec]:
    """Loops on every incoming lane of every signalised junction: one `stop_loop_m` before the
    stop line, (unless `upstream_loop_m` is None) one `upstream_loop_m` after the lane's start
    (at most half-way to the stop-line loop) and (unless `advance_loop_m` is None) one
    `advance_loop_m` before the stop line, if that lies at least MIN_LOOP_SPACING_M from the
    others. Loop and site ids are citytraffic ids."""
    specs: list[LoopSpec] = []
    for tls in sorted(info.tl_links):
        site = safe_id(tls)
        for lane_id in sorted({lk.from_lane for lk in info.tl_links[tls]}):
            length = info.lane(lane_id).length_m
            stop = max(0.5, length - stop_loop_m)
            specs.append(LoopSpec(safe_id(f"{lane_id}.s"), site, lane_id, stop))
            up = 0.0
            if upstream_loop_m is not None:
                up = min(upstream_loop_m, stop / 2)
                specs.append(LoopSpec(safe_id(f"{lane_id}.u"), site, lane_id, up, "upstream"))
            if advance_loop_m is not None:
                adv = length - advance_loop_m
                if adv - up >= MIN_LOOP_SPACING_M and stop - adv >= MIN_LOOP_SPACING_M:
                    specs.append(LoopSpec(safe_id(f"{lane_id}.a"), site, lane_id, adv, "advance"))
    return specs


def write_loop_file(
    specs: list[LoopSpec], path: Path, period_s: int = 1, output: str = "NUL"
) -> None:
    """A SUMO additional file with the loops; `output` is SUMO's own per-`period_s` E1 report
    (`NUL`: none)."""
    lines = ["<additional>"]
    for sp in specs:
        lines.append(
            f"    <inductionLoop id={quoteattr(sp.id)} lane={quoteattr(sp.lane)} "
            f'pos="{sp.pos_m:.2f}" period="{period_s}" file={quoteattr(output)}/>'
        )
    lines.append("</additional>")
    # a private temporary name, then an atomic rename: processes sharing a cache may race
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)


class _Window:
    """Sums of one reporting window (count, occupancy per step, speed of counted vehicles)."""

    __slots__ = ("count", "occ", "speed", "steps")

    def __init__(self, detectors: list[str]) -> None:
        self.count = dict.fromkeys(detectors, 0)
        self.occ = dict.fromkeys(detectors, 0.0)
        self.speed = dict.fromkeys(detectors, 0.0)
        self.steps = 0


MAIN = "main"


class LoopGateway:
    """Samples every loop each simulation step (presence, as a loop card does) and reports per
    interval: vehicles whose front reached the loop, share of the interval it was occupied, mean
    speed of the vehicles counted.

    Windows: the main window (`read(..., window="main")`, the one `totals` add up) and any
    number of others opened with `open_window(name)`, each read at its own pace (the SUMO
    gateway publishes every 60 s from the main window and feeds its adaptive controller every
    second from another)."""

    def __init__(
        self,
        detectors_by_site: dict[str, list[str]],
        gateway: str = "sumo-gw",
        epoch: datetime = EPOCH,
        roundtrip: bool = True,
    ) -> None:
        """`epoch`: wall time of simulation second 0. `roundtrip`: pass every batch through the
        MQTT codec (what a consumer of decoded readings needs; a publisher encodes anyway)."""
        import libsumo

        self._loops = libsumo.inductionloop
        self._by_site = {s: sorted(ds) for s, ds in sorted(detectors_by_site.items()) if ds}
        self._all = [d for ds in self._by_site.values() for d in ds]
        self._previous: dict[str, tuple[str, ...]] = {d: () for d in self._all}
        self._windows = {MAIN: _Window(self._all)}
        self._gateway = gateway
        self._epoch = epoch
        self._roundtrip = roundtrip
        self._seq = 0
        self.totals = dict.fromkeys(self._all, 0)
        from traci import constants as tc

        self._vars = (tc.LAST_STEP_VEHICLE_ID_LIST, tc.LAST_STEP_OCCUPANCY, tc.LAST_STEP_MEAN_SPEED)
        for det in self._all:
            self._loops.subscribe(det, list(self._vars))

    def open_window(self, name: str) -> None:
        """Start another window (empty from now on); opening an open one does nothing."""
        self._windows.setdefault(name, _Window(self._all))

    def sample(self) -> None:
        """Call once after every simulation step (1 s steps)."""
        previous = self._previous
        ids_var, occ_var, speed_var = self._vars
        windows = list(self._windows.values())
        for det, values in self._loops.getAllSubscriptionResults().items():
            ids = values[ids_var]
            if ids:
                new = sum(1 for v in ids if v not in previous[det])
                occ = values[occ_var] / 100.0
                speed = new * max(0.0, values[speed_var]) if new else 0.0
                for w in windows:
                    if new:
                        w.count[det] += new
                        w.speed[det] += speed
                    w.occ[det] += occ
            previous[det] = ids
        for w in windows:
            w.steps += 1

    def read(self, now_s: float, interval_s: int, window: str = MAIN) -> list[DetectorBatch]:
        """The batches of the interval of `interval_s` simulated seconds that ended at `now_s`."""
        w = self._windows[window]
        ts = self._epoch + timedelta(seconds=now_s)
        steps = max(1, w.steps)
        batches: list[DetectorBatch] = []
        for site, detectors in self._by_site.items():
            values: list[DetectorValue] = []
            for det in detectors:
                n = w.count[det]
                speed_kmh = round(w.speed[det] / n * 3.6, 2) if n else None
                occupancy = round(min(1.0, max(0.0, w.occ[det] / steps)), 4)
                values.append(DetectorValue(det, n, occupancy, speed_kmh))
                if window == MAIN:
                    self.totals[det] += n
                w.count[det] = 0
                w.occ[det] = 0.0
                w.speed[det] = 0.0
            batch = DetectorBatch(self._gateway, self._seq, site, ts, interval_s, values)
            self._seq += 1
            if self._roundtrip:
                decoded = decode(encode(batch), "detectors", site)
                assert isinstance(decoded, DetectorBatch)
                batch = decoded
            batches.append(batch)
        w.steps = 0
        return batches
