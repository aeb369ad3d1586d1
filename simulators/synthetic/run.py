"""Publishing runner of the synthetic city: the model's readings and signal states over MQTT.

Every gateway has its own `GatewayPublisher` (one MQTT connection each): the retained last will
`offline` is per connection, so only one connection per gateway lets the broker announce a
single dead gateway, and each gateway keeps its own sequence numbers and bounded buffer, as real
field devices do. Per interval each site publishes one `DetectorBatch` stamped with the END of the
interval; each junction publishes a `SignalState` at start-up and at every state change, stamped
with the change time. Times follow the clock policy of `simulators.clock`: a sped-up run starts
in the past, catches up, then runs at real time; nothing is ever stamped in the future.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from citytraffic.messaging import payloads
from simulators.clock import Clock, PacedClock, SystemClock, default_start, floor_time
from simulators.faults import FaultInjector, FaultPlan
from simulators.publishing import (
    Publisher,
    PublisherFactory,
    close_all,
    save_network_file,
    stop_on_sigterm,
)
from simulators.synthetic.city import City, CityConfig, build_city
from simulators.synthetic.model import Incident, SiteReadings, SyntheticModel
from simulators.synthetic.signals import SignalStatus

log = logging.getLogger(__name__)

PROGRESS_EVERY_INTERVALS = 60


@dataclass(frozen=True, slots=True)
class IncidentSpec:
    """An incident relative to the run start (what the command line gives)."""

    link: str
    offset_s: float
    duration_s: float
    capacity_factor: float = 0.3

    def at(self, start: datetime) -> Incident:
        return Incident(
            self.link,
            start + timedelta(seconds=self.offset_s),
            self.duration_s,
            self.capacity_factor,
        )


def parse_incident(spec: str) -> IncidentSpec:
    """`LINK,OFFSET_S,DURATION_S[,CAPACITY_FACTOR]`, e.g. `J1-1_J1-2,600,900,0.2`.

    Raises ValueError with a readable message on bad input."""
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) not in (3, 4) or not parts[0]:
        raise ValueError(f"incident {spec!r}: expected LINK,OFFSET_S,DURATION_S[,FACTOR]")
    try:
        offset_s, duration_s = float(parts[1]), float(parts[2])
        factor = float(parts[3]) if len(parts) == 4 else 0.3
    except ValueError:
        raise ValueError(
            f"incident {spec!r}: offset, duration and factor must be numbers"
        ) from None
    if offset_s < 0 or duration_s <= 0 or not 0.0 <= factor <= 1.0:
        raise ValueError(f"incident {spec!r}: needs offset >= 0, duration > 0, 0 <= factor <= 1")
    return IncidentSpec(parts[0], offset_s, duration_s, factor)


def batch_message(gateway: str, seq: int, batch: SiteReadings) -> payloads.DetectorBatch:
    return payloads.DetectorBatch(
        gateway=gateway,
        seq=seq,
        site=batch.site,
        ts=batch.ts,
        interval_s=batch.interval_s,
        readings=[
            payloads.DetectorValue(r.detector, r.count, r.occupancy, r.speed_kmh)
            for r in batch.readings
        ],
    )


def signal_message(
    gateway: str, seq: int, ts: datetime, status: SignalStatus
) -> payloads.SignalState:
    return payloads.SignalState(
        gateway=gateway,
        seq=seq,
        site=status.site,
        ts=ts,
        plan=status.plan,
        phase=status.phase,
        state=status.state,
        time_to_change_s=float(status.time_to_change_s),
    )


def run_synthetic(
    host: str,
    port: int,
    *,
    seed: int = 1,
    speedup: float = 1.0,
    interval_s: int = 60,
    duration_s: float | None = None,
    network_out: Path | None = None,
    start: datetime | None = None,
    history_s: float | None = None,
    username: str | None = None,
    password: str | None = None,
    incidents: Sequence[Incident | IncidentSpec] = (),
    config: CityConfig | None = None,
    stop: threading.Event | None = None,
    clock: Clock | None = None,
    publisher_factory: PublisherFactory | None = None,
    flush_timeout_s: float = 30.0,
    faults: FaultPlan | None = None,
) -> int:
    """Run the synthetic city. Returns 0 when every message was acknowledged by the broker, 1 when
    some were not (or the broker refused us), 2 on a bad argument (logged).

    The run starts at `start`, else `history_s` seconds ago, else where `clock.default_start`
    puts it (catching up exactly at the end of `duration_s`, or an hour back when open-ended);
    `duration_s` is simulated time (None: until `stop` is set or the process is interrupted).
    `faults` (simulators.faults) are injected between the model and the publishers, with the
    run start as their time origin; their ground truth goes to `faults.ground_truth`."""
    stop = stop or threading.Event()
    clk = clock or SystemClock(stop)
    try:
        if start is not None and start.tzinfo is None:
            raise ValueError("start must be timezone-aware (UTC)")
        if duration_s is not None and duration_s <= 0:
            raise ValueError("duration_s must be > 0")
        if history_s is not None and history_s > 0 and start is None:
            start = floor_time(clk.now() - timedelta(seconds=history_s), interval_s)
        t0 = start or default_start(clk.now(), speedup, duration_s, interval_s)
        city = build_city(config)
        absolute = tuple(i.at(t0) if isinstance(i, IncidentSpec) else i for i in incidents)
        model = SyntheticModel(city, seed, interval_s, absolute)
        paced = PacedClock(t0, speedup, clk)
    except ValueError as exc:
        log.error("synthetic simulator: %s", exc)
        return 2
    if network_out is not None:
        save_network_file(city.network, network_out)
        log.info("network written to %s", network_out)

    def default_factory(gateway_id: str) -> Publisher:
        from citytraffic.messaging.publisher import GatewayPublisher

        return GatewayPublisher(host, port, gateway_id, username=username, password=password)

    factory = publisher_factory or default_factory
    publishers: dict[str, Publisher] = {}
    ok = True
    injector: FaultInjector | None = None
    restore_sigterm = stop_on_sigterm(stop)
    try:
        if faults is not None:
            injector = FaultInjector(faults, t0, clk)
        for gw in city.network.gateways:
            pub = factory(gw.id)
            publishers[gw.id] = injector.wrap(gw.id, pub, factory) if injector else pub
        _loop(city, model, paced, publishers, t0, duration_s, stop)
    except KeyboardInterrupt:
        log.info("synthetic simulator interrupted")
    except Exception as exc:  # a refused login or a closed publisher: report, do not hang
        log.error("synthetic simulator stopped: %s", exc)
        ok = False
    finally:
        restore_sigterm()
        ok = close_all(publishers, flush_timeout_s) and ok
        if injector is not None:
            injector.close()
    return 0 if ok else 1


def _loop(
    city: City,
    model: SyntheticModel,
    paced: PacedClock,
    publishers: dict[str, Publisher],
    t0: datetime,
    duration_s: float | None,
    stop: threading.Event | None,
) -> None:
    gateway_of = {site: gw.id for gw in city.network.gateways for site in gw.sites}
    seq: dict[str, int] = dict.fromkeys(publishers, 0)

    def next_seq(site: str) -> tuple[str, int]:
        gw = gateway_of[site]
        seq[gw] += 1
        return gw, seq[gw] - 1

    def send_signal(when: datetime, status: SignalStatus) -> None:
        gw, n = next_seq(status.site)
        publishers[gw].publish(signal_message(gw, n, when, status))

    def send_batch(batch: SiteReadings) -> None:
        gw, n = next_seq(batch.site)
        publishers[gw].publish(batch_message(gw, n, batch))

    if not paced.wait_until(t0, stop):
        return
    for plan in model.plans.values():
        send_signal(t0, plan.status_at(t0))
    step = timedelta(seconds=model.interval_s)
    end = t0 + timedelta(seconds=duration_s) if duration_s is not None else None
    k = 0
    while True:
        t_prev, t_end = t0 + k * step, t0 + (k + 1) * step
        if end is not None and t_end > end:
            return
        changes = sorted(
            (
                (when, status)
                for plan in model.plans.values()
                for when, status in plan.changes(t_prev, t_end)
            ),
            key=lambda c: (c[0], c[1].site),
        )
        for when, status in changes:
            if not paced.wait_until(when, stop):
                return
            send_signal(when, status)
        if not paced.wait_until(t_end, stop):
            return
        for batch in model.step(t_end):
            send_batch(batch)
        k += 1
        if k % PROGRESS_EVERY_INTERVALS == 0:
            log.info("synthetic city at %s (%.0f s behind real time)", t_end, paced.lag_s())
