"""Replay the real METR-LA week over MQTT: one `DetectorBatch` per station per 5 minutes.

Each gateway (about ten nearby stations, `simulators.metrla.network`) has its own
`GatewayPublisher` connection and sequence numbers. A batch holds one reading, the station's
speed in km/h; `count` and `occupancy` are absent (the data has none, none are invented). Times:
see `simulators.metrla.data` (shift: the replay ends at now; original: the 2012 times in UTC),
paced by `simulators.clock.PacedClock` (nothing is released before its `ts`; sped up on request).
"""

from __future__ import annotations

import logging
import math
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from citytraffic.domain.errors import NetworkError
from citytraffic.domain.network import Network
from citytraffic.messaging import payloads
from simulators.clock import Clock, PacedClock, SystemClock
from simulators.faults import FaultInjector, FaultPlan
from simulators.metrla.data import (
    INTERVAL_S,
    MetrLaData,
    load_metrla,
    mph_to_kmh,
    original_times,
    shifted_times,
)
from simulators.metrla.network import build_network, detector_id, site_id
from simulators.publishing import (
    Publisher,
    PublisherFactory,
    close_all,
    save_network_file,
    stop_on_sigterm,
)

log = logging.getLogger(__name__)

Mode = Literal["shift", "original"]
PROGRESS_EVERY_ROWS = 288  # a day


def replay_rows(duration_s: float | None, available: int | None = None) -> int | None:
    """The 5-minute rows `duration_s` simulated seconds cover (None: all). Raises ValueError."""
    if duration_s is None:
        return available
    if not math.isfinite(duration_s) or duration_s < INTERVAL_S:
        raise ValueError(f"duration_s must be >= {INTERVAL_S} (one row), got {duration_s}")
    rows = int(duration_s // INTERVAL_S)
    return rows if available is None else min(rows, available)


def run_metrla(
    host: str,
    port: int,
    *,
    data_dir: Path,
    speedup: float = 1.0,
    mode: Mode = "shift",
    duration_s: float | None = None,
    network_out: Path | None = None,
    username: str | None = None,
    password: str | None = None,
    faults: FaultPlan | None = None,
    stop: threading.Event | None = None,
    clock: Clock | None = None,
    publisher_factory: PublisherFactory | None = None,
    per_gateway: int = 10,
    flush_timeout_s: float = 30.0,
) -> int:
    """Replay the week (or its first `duration_s` simulated seconds). Returns 0 when every message
    was acknowledged, 1 when some were not (or the broker refused us), 2 on bad arguments or data
    (logged)."""
    stop = stop or threading.Event()
    clk = clock or SystemClock(stop)
    try:
        if mode not in ("shift", "original"):
            raise ValueError(f"mode must be 'shift' or 'original', got {mode!r}")
        if speedup <= 0 or not math.isfinite(speedup):
            raise ValueError(f"speedup must be a positive number, got {speedup}")
        data = load_metrla(data_dir, replay_rows(duration_s))
        network = build_network(data.stations, per_gateway)
        if mode == "original":
            times = original_times(data.rows)
        else:
            times = shifted_times(data.rows, clk.now(), speedup)
        t0 = times[0] - timedelta(seconds=INTERVAL_S)
        paced = PacedClock(t0, speedup, clk)
    except (ValueError, NetworkError) as exc:  # MetrLaDataError is a ValueError
        log.error("METR-LA replay: %s", exc)
        return 2
    if network_out is not None:
        save_network_file(network, network_out)
        log.info("network written to %s", network_out)
    log.info(
        "METR-LA replay: %d stations, %d gateways, %d rows from %s to %s (%s), speedup %g",
        len(data.stations),
        len(network.gateways),
        data.rows,
        times[0].isoformat(),
        times[-1].isoformat(),
        mode,
        speedup,
    )

    def default_factory(gateway_id: str) -> Publisher:
        from citytraffic.messaging.publisher import GatewayPublisher

        return GatewayPublisher(host, port, gateway_id, username=username, password=password)

    factory = publisher_factory or default_factory
    publishers: dict[str, Publisher] = {}
    injector: FaultInjector | None = None
    ok = True
    restore_sigterm = stop_on_sigterm(stop)
    try:
        if faults is not None:
            injector = FaultInjector(faults, t0, clk)
        for gw in network.gateways:
            pub = factory(gw.id)
            publishers[gw.id] = injector.wrap(gw.id, pub, factory) if injector else pub
        sent = _loop(network, data, times, paced, publishers, stop)
        log.info("METR-LA replay: %d batches published", sent)
    except KeyboardInterrupt:
        log.info("METR-LA replay interrupted")
    except Exception as exc:  # a refused login or a closed publisher: report, do not hang
        log.error("METR-LA replay stopped: %s", exc)
        ok = False
    finally:
        restore_sigterm()
        ok = close_all(publishers, flush_timeout_s) and ok
        if injector is not None:
            injector.close()
    return 0 if ok else 1


def station_batch(
    gateway: str, seq: int, sensor: str, ts: datetime, speed_mph: float
) -> payloads.DetectorBatch:
    """The batch of one station for one row: its speed in km/h, no count, no occupancy."""
    return payloads.DetectorBatch(
        gateway=gateway,
        seq=seq,
        site=site_id(sensor),
        ts=ts,
        interval_s=INTERVAL_S,
        readings=[payloads.DetectorValue(detector_id(sensor), speed_kmh=mph_to_kmh(speed_mph))],
    )


def _loop(
    network: Network,
    data: MetrLaData,
    times: list[datetime],
    paced: PacedClock,
    publishers: dict[str, Publisher],
    stop: threading.Event,
) -> int:
    column = {site_id(s.id): k for k, s in enumerate(data.stations)}
    sensor = {site_id(s.id): s.id for s in data.stations}
    seq = dict.fromkeys(publishers, 0)
    sent = 0
    for k, ts in enumerate(times):
        if not paced.wait_until(ts, stop):
            break
        row = data.speeds_mph[k]
        for gw in network.gateways:
            for site in gw.sites:
                speed = row[column[site]]
                if speed is None:
                    continue
                publishers[gw.id].publish(station_batch(gw.id, seq[gw.id], sensor[site], ts, speed))
                seq[gw.id] += 1
                sent += 1
        if (k + 1) % PROGRESS_EVERY_ROWS == 0:
            log.info("METR-LA replay at %s (%.0f s behind real time)", ts, paced.lag_s())
    return sent
