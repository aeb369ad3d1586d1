"""Macroscopic traffic model of the synthetic city (pure: no I/O, no wall clock).

Each interval of `interval_s` seconds, for every directed link (one-interval lag between links,
so a disturbance travels one link per interval, like a backward shock wave):

1. arrivals = own source + the upstream links' discharge last interval x turning shares; sources
   follow the daily profile (`profiles`), the corridor weight, the inbound/outbound bias, and a
   seeded AR(1) log-normal noise;
2. capacity = lanes x 1800 veh/h x g/C at a signalised stop line (1800 x lanes on a freeway is
   replaced by 2000 veh/h/lane), times the remaining share under an `Incident`;
3. sending flow = min(capacity, arrivals + queue / interval), cut further when a downstream link
   is full (spill-back: its free storage plus its own discharge is all it can take in);
4. queue += (arrivals - discharge) x interval, within 0..storage (length x lanes x k_jam).

Detectors turn the link state into readings consistent with a fundamental diagram (domain.md 1):
the share `phi` of the interval a standing queue covers the loop mixes the free and congested
branches, `count` is a Poisson draw of the lane's flow, then speed v = q / k and
occupancy = k x L_eff / 1000 with q = count x 3600 / interval_s. Urban stop-line loops use a
Greenshields diagram whose free speed mixes free flow (arrivals on green) with the discharge speed
(arrivals on red); freeway stations use a triangular diagram.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from simulators.synthetic.city import City, LinkKind, LinkRole
from simulators.synthetic.profiles import demand_factor, inbound_bias
from simulators.synthetic.signals import FixedTimePlan, plans_for

L_EFF_M = 7.5  # effective vehicle + loop length for occupancy
JAM_DENSITY_VPKM = 125.0  # per lane (8 m per stopped vehicle)
SATURATION_FLOW_VPH = 1800.0  # per lane at a stop line (SUMO default, domain.md 1)
FREEWAY_CAPACITY_VPH = 2000.0  # per lane, mixed traffic (approx.)
DISCHARGE_SPEED_KMH = 20.0  # speed of vehicles starting from a stop over a stop-line loop
NOISE_SIGMA = 0.12  # log-normal demand noise
NOISE_TAU_S = 900.0  # correlation time of the demand noise
SPEED_NOISE = 0.03  # relative measurement noise of speed (occupancy follows it via k = q / v)
ORIGIN_SWING = 3.0  # how strongly the inbound bias moves trip origins out of/into the city
COVER_RAMP_M = 40.0  # queue length beyond the loop that covers it for the whole interval


@dataclass(frozen=True, slots=True)
class Incident:
    """Capacity of `link` drops to `capacity_factor` of normal from `start` for `duration_s`."""

    link: str
    start: datetime
    duration_s: float
    capacity_factor: float = 0.3

    def active(self, t: datetime) -> bool:
        return self.start <= t < self.start + timedelta(seconds=self.duration_s)


@dataclass(frozen=True, slots=True)
class FundamentalDiagram:
    """Per lane. `capacity_vph` None: Greenshields; else triangular with that capacity."""

    free_flow_kmh: float
    jam_density_vpkm: float = JAM_DENSITY_VPKM
    capacity_vph: float | None = None

    @property
    def max_flow_vph(self) -> float:
        if self.capacity_vph is None:
            return self.free_flow_kmh * self.jam_density_vpkm / 4.0
        return self.capacity_vph

    def free_density(self, q_vph: float) -> float:
        q = min(max(q_vph, 0.0), self.max_flow_vph)
        if self.capacity_vph is None:
            kj = self.jam_density_vpkm
            return kj / 2.0 * (1.0 - math.sqrt(max(0.0, 1.0 - q / self.max_flow_vph)))
        return q / self.free_flow_kmh

    def congested_density(self, q_vph: float) -> float:
        q = min(max(q_vph, 0.0), self.max_flow_vph)
        kj = self.jam_density_vpkm
        if self.capacity_vph is None:
            return kj / 2.0 * (1.0 + math.sqrt(max(0.0, 1.0 - q / self.max_flow_vph)))
        k_crit = self.capacity_vph / self.free_flow_kmh
        wave_kmh = self.capacity_vph / (kj - k_crit)
        return kj - q / wave_kmh


@dataclass(slots=True)
class LinkState:
    queue_veh: float = 0.0
    arrivals_vph: float = 0.0
    discharge_vph: float = 0.0
    capacity_vph: float = 0.0
    noise: float = 0.0

    def fill(self, role: LinkRole) -> float:
        return self.queue_veh / storage_veh(role)


@dataclass(frozen=True, slots=True)
class LaneReading:
    detector: str
    count: int
    occupancy: float
    speed_kmh: float | None


@dataclass(frozen=True, slots=True)
class SiteReadings:
    site: str
    ts: datetime  # end of the interval
    interval_s: int
    readings: tuple[LaneReading, ...]


def storage_veh(role: LinkRole) -> float:
    return role.length_m * role.lanes * JAM_DENSITY_VPKM / 1000.0


@functools.cache
def lane_weights(lanes: int) -> np.ndarray:
    """Share of a link's flow per lane: the kerb lane (1) carries a little less."""
    w = np.ones(lanes)
    if lanes > 1:
        w[0] = 0.8
    out: np.ndarray = w / float(w.sum())
    return out


def split_lanes(total_vph: float, shares: np.ndarray, lane_cap_vph: float) -> list[float]:
    """Share a link's flow over its lanes; a lane at capacity passes its excess to the others
    (drivers change lanes), so no lane carries more than `lane_cap_vph` unless all do."""
    n = len(shares)
    if total_vph >= n * lane_cap_vph:
        return [total_vph / n] * n
    flows = [total_vph * float(x) for x in shares]
    for _ in range(n):
        excess = sum(max(0.0, f - lane_cap_vph) for f in flows)
        room = [i for i, f in enumerate(flows) if f < lane_cap_vph]
        if excess <= 1e-9 or not room:
            break
        flows = [min(f, lane_cap_vph) for f in flows]
        for i in room:
            flows[i] += excess / len(room)
    return flows


class SyntheticModel:
    def __init__(
        self,
        city: City,
        seed: int,
        interval_s: int,
        incidents: tuple[Incident, ...] = (),
        plans: dict[str, FixedTimePlan] | None = None,
    ) -> None:
        if not 1 <= interval_s <= 3600:
            raise ValueError("interval_s must be within 1..3600")
        unknown = [i.link for i in incidents if i.link not in city.roles]
        if unknown:
            raise ValueError(f"incident on unknown link(s): {', '.join(unknown)}")
        self.city = city
        self.interval_s = interval_s
        self.incidents = incidents
        self.plans = plans if plans is not None else plans_for(city)
        self.rng = np.random.default_rng(seed)
        self.tz = ZoneInfo(city.config.timezone)
        self.roles = dict(sorted(city.roles.items()))
        self.state = {link: LinkState() for link in self.roles}
        self.upstream: dict[str, list[tuple[str, float]]] = {link: [] for link in self.roles}
        for role in self.roles.values():
            for to_link, share in role.turns:
                self.upstream[to_link].append((role.link, share))
        self.rho = math.exp(-interval_s / NOISE_TAU_S)
        self._fd = {link: self._diagram(role) for link, role in self.roles.items()}
        self._by_site: dict[str, list[tuple[str, str, int]]] = {}
        for d in city.network.detectors:
            self._by_site.setdefault(d.site, []).append((d.id, d.link, d.lane))

    def _incident_factor(self, link: str, t: datetime) -> float:
        factors = [x.capacity_factor for x in self.incidents if x.link == link and x.active(t)]
        return max(0.0, min(factors, default=1.0))

    def _green_share(self, role: LinkRole) -> float:
        assert role.junction is not None and role.approach is not None
        return self.plans[role.junction].green_share(role.approach)

    def _diagram(self, role: LinkRole) -> FundamentalDiagram:
        if role.kind is LinkKind.FREEWAY:
            return FundamentalDiagram(role.free_flow_kmh, capacity_vph=FREEWAY_CAPACITY_VPH)
        if role.kind is LinkKind.APPROACH:
            g = self._green_share(role)
            return FundamentalDiagram(g * role.free_flow_kmh + (1 - g) * DISCHARGE_SPEED_KMH)
        return FundamentalDiagram(role.free_flow_kmh)

    def base_capacity_vph(self, role: LinkRole) -> float:
        if role.kind is LinkKind.APPROACH:
            return role.lanes * SATURATION_FLOW_VPH * self._green_share(role)
        if role.kind is LinkKind.FREEWAY:
            return role.lanes * FREEWAY_CAPACITY_VPH
        return math.inf

    def source_vph(self, role: LinkRole, t_mid: datetime) -> float:
        """Mean traffic starting on this link (entering the city or from the block)."""
        local = t_mid.astimezone(self.tz)
        return self._source_vph(role, demand_factor(local), inbound_bias(local))

    def _source_vph(self, role: LinkRole, factor: float, bias: float) -> float:
        cfg = self.city.config
        direction = 1.0 + bias * role.inward
        if role.kind is LinkKind.FREEWAY:
            peak = cfg.peak_freeway_vph_per_lane if role.entry else 0.0
        elif role.kind is LinkKind.APPROACH:
            # morning trips start outside the city, evening trips inside it
            share = 1.0 if role.entry else cfg.local_share * (1.0 - ORIGIN_SWING * bias)
            peak = cfg.peak_boundary_vph_per_lane * share * role.weight
        else:
            return 0.0
        return peak * role.lanes * factor * direction

    def step(self, t_end: datetime) -> list[SiteReadings]:
        """Advance one interval ending at `t_end`; return one batch per site."""
        dt_h = self.interval_s / 3600.0
        t_mid = t_end - timedelta(seconds=self.interval_s / 2)
        sigma = NOISE_SIGMA * math.sqrt(1.0 - self.rho**2)
        eta = self.rng.standard_normal(len(self.roles))
        local = t_mid.astimezone(self.tz)
        factor, bias = demand_factor(local), inbound_bias(local)
        prev_out = {link: s.discharge_vph for link, s in self.state.items()}
        send: dict[str, float] = {}
        source: dict[str, float] = {}
        for i, (link, role) in enumerate(self.roles.items()):
            st = self.state[link]
            st.noise = self.rho * st.noise + sigma * eta[i]
            source[link] = self._source_vph(role, factor, bias) * math.exp(
                st.noise - NOISE_SIGMA**2 / 2
            )
            st.arrivals_vph = source[link] + sum(prev_out[u] * sh for u, sh in self.upstream[link])
            st.capacity_vph = self.base_capacity_vph(role) * self._incident_factor(link, t_mid)
            send[link] = min(st.capacity_vph, st.arrivals_vph + st.queue_veh / dt_h)
        # spill-back: the room a link has left for next interval's arrivals is shared out over
        # the links feeding it; what does not fit stays queued upstream
        accept: dict[str, float] = {}
        for link, role in self.roles.items():
            wanted = sum(send[u] * sh for u, sh in self.upstream[link])
            if wanted <= 0:
                accept[link] = 1.0
                continue
            st = self.state[link]
            queue_next = st.queue_veh + (st.arrivals_vph - send[link]) * dt_h
            room_vph = (storage_veh(role) - queue_next) / dt_h + send[link] - source[link]
            accept[link] = min(1.0, max(0.0, room_vph / wanted))
        for link, role in self.roles.items():
            st = self.state[link]
            blocked = sum(sh * (1.0 - accept[to]) for to, sh in role.turns)
            total_share = sum(sh for _, sh in role.turns) or 1.0
            out = send[link] * max(0.0, 1.0 - blocked / total_share)
            st.discharge_vph = out
            st.queue_veh = min(
                storage_veh(role), max(0.0, st.queue_veh + (st.arrivals_vph - out) * dt_h)
            )
        return [self._site_readings(site, t_end, dets) for site, dets in self._by_site.items()]

    def _site_readings(
        self, site: str, t_end: datetime, dets: list[tuple[str, str, int]]
    ) -> SiteReadings:
        readings = []
        lane_flows: dict[str, list[float]] = {}
        for det_id, link, lane in dets:
            role, st = self.roles[link], self.state[link]
            if link not in lane_flows:
                w = lane_weights(role.lanes) * np.exp(0.05 * self.rng.standard_normal(role.lanes))
                cap = self.base_capacity_vph(role) / role.lanes
                lane_flows[link] = split_lanes(self._detected_flow(role, st), w / w.sum(), cap)
            readings.append(self._reading(det_id, role, st, lane_flows[link][lane - 1]))
        return SiteReadings(site, t_end, self.interval_s, tuple(readings))

    def coverage(self, role: LinkRole, st: LinkState) -> float:
        """Share of the interval a standing queue covers this link's detectors (0..1)."""
        queue_m = st.queue_veh / role.lanes * 1000.0 / JAM_DENSITY_VPKM
        behind_m = role.length_m - role.detector_position_m
        return min(1.0, max(0.0, (queue_m - behind_m) / COVER_RAMP_M))

    def _detected_flow(self, role: LinkRole, st: LinkState) -> float:
        """Flow over the link's detectors, all lanes (veh/h)."""
        if role.kind is LinkKind.APPROACH:  # stop line: what discharges
            return st.discharge_vph
        # upstream end of a freeway segment: sees arrivals until the queue reaches it
        phi = self.coverage(role, st)
        return phi * st.discharge_vph + (1.0 - phi) * st.arrivals_vph

    def _reading(self, det_id: str, role: LinkRole, st: LinkState, flow_vph: float) -> LaneReading:
        phi = self.coverage(role, st)
        lam = max(0.0, flow_vph * self.interval_s / 3600.0)
        count = int(self.rng.poisson(lam))
        fd = self._fd[role.link]
        if count == 0:
            k = phi * fd.jam_density_vpkm  # standing vehicles, nobody passed
            return LaneReading(det_id, 0, round(min(1.0, k * L_EFF_M / 1000.0), 4), None)
        q = count * 3600.0 / self.interval_s
        k = (1.0 - phi) * fd.free_density(q) + phi * fd.congested_density(q)
        speed = min(role.free_flow_kmh, q / k) * math.exp(SPEED_NOISE * self.rng.standard_normal())
        speed = max(0.1, round(min(speed, role.free_flow_kmh * 1.2), 1))
        occupancy = min(1.0, q / speed * L_EFF_M / 1000.0)
        return LaneReading(det_id, count, round(occupancy, 4), speed)

    def run(self, start: datetime, n_intervals: int) -> list[list[SiteReadings]]:
        """Convenience for tests and offline use: `n_intervals` steps from `start`."""
        step = timedelta(seconds=self.interval_s)
        return [self.step(start + (i + 1) * step) for i in range(n_intervals)]
