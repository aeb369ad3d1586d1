"""The SUMO gateway: SUMO stepped in-process (libsumo), published over MQTT as field gateways do.

Per traffic light (one junction site, one gateway `gw-<site>` with its own MQTT connection,
sequence numbers and bounded buffer, as in the synthetic city):
- every `interval_s` simulated seconds a `DetectorBatch` from the E1 loops of the junction's
  incoming lanes (count of vehicles reaching the loop, occupancy, mean speed; `loops.LoopGateway`),
  stamped with the end of the interval;
- a `SignalState` at start and at every change of the signal state string: program (`plan`),
  phase name (`P1`, `P1-yellow`, ...), state, time to the next switch.

Orders: a `PlanListener` hears each junction's plan topic. Every simulated second each junction
follows the newest order as `control.plans.control_mode` says (inside its validity window, the
centre heard from recently): a plan that passes `validate_plan` runs as the SUMO program
`citytraffic-v<version>` from its first phase; an `adaptive` order hands the junction to
citytraffic's adaptive controller (`field_adaptive.py`, program name `citytraffic-adaptive`);
anything else, a revoked or expired order, or a lost link to the centre brings back the local
SUMO program.

Time: simulated second s is wall time `t0 + s`. The run is paced by `simulators.clock.PacedClock`
(`speedup`, never stamped in the future); with `speedup=inf` SUMO runs as fast as it can. Same
source, seed, start time and SUMO version: the same messages.
"""

from __future__ import annotations

import logging
import math
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import msgspec

from citytraffic.domain.network import Network
from citytraffic.messaging import payloads
from control.plans import control_mode, validate_plan
from simulators.clock import Clock, PacedClock, SystemClock, default_start
from simulators.faults import FaultInjector, FaultPlan
from simulators.publishing import (
    Publisher,
    PublisherFactory,
    close_all,
    save_network_file,
    stop_on_sigterm,
)
from simulators.sumo.field_adaptive import ADAPTIVE_PROGRAM, FieldAdaptive
from simulators.sumo.layout import layouts_for
from simulators.sumo.loops import LoopGateway, write_loop_file
from simulators.sumo.netfile import VIENNA, Origin, SignalData, derive_network
from simulators.sumo.programs import plan_program, program_id
from simulators.sumo.sources import SumoSource

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 300
MAX_SPEEDUP = 1e9  # "as fast as SUMO runs": the pacing never waits, nothing is stamped ahead


class PlanFeed(Protocol):
    """What the gateway needs from the plan listener (citytraffic.messaging.plan_listener)."""

    def latest(self, site: str) -> tuple[dict[str, Any] | None, int]: ...

    def last_centre_contact(self, now: datetime) -> datetime | None: ...

    def stop(self) -> None: ...


@dataclass(slots=True)
class _Junction:
    site: str
    gateway: str
    data: SignalData
    local_program: str
    running: str = ""  # what the junction was ordered to run (a program id or adaptive)
    program: str = ""  # the SUMO program shown until adaptive control takes over
    plan_seen: int = -1  # listener counter of the newest message looked at
    last_state: str = ""
    last_shown: str = ""
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)  # program -> phase names


@dataclass(slots=True)
class GatewayStats:
    sim_s: float = 0.0
    wall_s: float = 0.0
    batches: int = 0
    signal_states: int = 0
    plans_applied: int = 0
    plans_refused: int = 0
    adaptive_orders: int = 0
    fallbacks: int = 0
    loop_totals: dict[str, int] = field(default_factory=dict)


def run_sumo_gateway(
    host: str,
    port: int,
    source: SumoSource,
    *,
    speedup: float = 1.0,
    interval_s: int = 60,
    duration_s: float | None = None,
    start: datetime | None = None,
    origin: Origin = VIENNA,
    network_out: Path | None = None,
    loop_report: Path | None = None,
    username: str | None = None,
    password: str | None = None,
    plans: bool = True,
    stop: threading.Event | None = None,
    clock: Clock | None = None,
    publisher_factory: PublisherFactory | None = None,
    flush_timeout_s: float = 30.0,
    faults: FaultPlan | None = None,
    stats: GatewayStats | None = None,
) -> int:
    """Run SUMO and publish. Returns 0 when every message was acknowledged by the broker, 1 when
    some were not (or the broker refused us), 2 on a bad argument (logged).

    `duration_s`: simulated seconds (default: the source's demand duration). `loop_report`: SUMO's
    own E1 report (per loop and interval) is written there, for checking what was published.
    `stats` (optional) is filled in as the run goes."""
    stop = stop or threading.Event()
    clk = clock or SystemClock(stop)
    stats = stats if stats is not None else GatewayStats()
    try:
        if start is not None and start.tzinfo is None:
            raise ValueError("start must be timezone-aware (UTC)")
        if not 1 <= interval_s <= 3600:
            raise ValueError("interval_s must be in 1..3600")
        run_s = float(duration_s if duration_s is not None else source.demand_s)
        if run_s <= 0 or not math.isfinite(run_s):
            raise ValueError("duration_s must be > 0")
        pace = min(speedup, MAX_SPEEDUP) if speedup > 0 else speedup
        t0 = start or default_start(clk.now(), pace, run_s, interval_s)
        paced = PacedClock(t0, pace, clk)
        network, signals = derive_network(source.info, source.loops, origin, source.net.stem)
    except ValueError as exc:
        log.error("sumo gateway: %s", exc)
        return 2
    if network_out is not None:
        save_network_file(network, network_out)
        log.info("network written to %s", network_out)

    def default_factory(gateway_id: str) -> Publisher:
        from citytraffic.messaging.publisher import GatewayPublisher

        return GatewayPublisher(host, port, gateway_id, username=username, password=password)

    factory = publisher_factory or default_factory
    publishers: dict[str, Publisher] = {}
    injector: FaultInjector | None = None
    listener: PlanFeed | None = None
    ok = True
    restore_sigterm = stop_on_sigterm(stop)
    try:
        if faults is not None:
            injector = FaultInjector(faults, t0, clk)
        for gw in network.gateways:
            pub = factory(gw.id)
            publishers[gw.id] = injector.wrap(gw.id, pub, factory) if injector else pub
        if plans:
            from citytraffic.messaging.plan_listener import PlanListener

            listener = PlanListener(host, port, signals, username=username, password=password)
        with tempfile.TemporaryDirectory(prefix="citytraffic-sumo-") as tmp:
            run = _Run(
                source,
                network,
                signals,
                publishers,
                listener,
                paced,
                t0,
                run_s,
                interval_s,
                stop,
                stats,
            )
            run.simulate(Path(tmp), loop_report)
    except KeyboardInterrupt:
        log.info("sumo gateway interrupted")
    except Exception as exc:  # a refused login, a SUMO error: report, do not hang
        log.error("sumo gateway stopped: %s", exc)
        ok = False
    finally:
        restore_sigterm()
        if listener is not None:
            listener.stop()
        ok = close_all(publishers, flush_timeout_s) and ok
        if injector is not None:
            injector.close()
    return 0 if ok else 1


@dataclass(slots=True)
class _Run:
    source: SumoSource
    network: Network
    signals: dict[str, SignalData]
    publishers: dict[str, Publisher]
    listener: PlanFeed | None
    paced: PacedClock
    t0: datetime
    run_s: float
    interval_s: int
    stop: threading.Event
    stats: GatewayStats
    seq: dict[str, int] = field(default_factory=dict)
    junctions: dict[str, _Junction] = field(default_factory=dict)
    loops: LoopGateway | None = None
    adaptive: FieldAdaptive | None = None

    def simulate(self, tmp: Path, loop_report: Path | None) -> None:
        import libsumo

        loop_file = tmp / "loops.add.xml"
        report = str(loop_report.resolve()) if loop_report is not None else "NUL"
        write_loop_file(list(self.source.loops), loop_file, self.interval_s, report)
        libsumo.start(
            [
                "sumo",
                f"--net-file={self.source.net}",
                f"--route-files={self.source.routes}",
                f"--additional-files={loop_file}",
                f"--seed={self.source.seed}",
                "--begin=0",
                "--step-length=1",
                "--no-step-log",
                "--no-warnings",
                "--duration-log.disable",
            ]
        )
        try:
            self._steps(libsumo)
        finally:
            libsumo.close()

    def _steps(self, libsumo: Any) -> None:
        tl = libsumo.trafficlight
        gateway_of = {site: gw.id for gw in self.network.gateways for site in gw.sites}
        self.seq = dict.fromkeys(self.publishers, 0)
        by_site: dict[str, list[str]] = {}
        for sp in self.source.loops:
            by_site.setdefault(sp.site, []).append(sp.id)
        loops = self.loops = LoopGateway(by_site, epoch=self.t0, roundtrip=False)
        for site, data in self.signals.items():
            local = tl.getProgram(data.tls)
            j = _Junction(site, gateway_of[site], data, local, running=local, program=local)
            j.names[local] = data.program_phase_names
            self.junctions[site] = j
        if not self.paced.wait_until(self.t0, self.stop):
            return
        started = time.monotonic()
        self._signal_changes(tl, 0.0)
        t = 0.0
        next_report = float(PROGRESS_EVERY_S)
        while t < self.run_s:
            if not self.paced.wait_until(self.t0 + timedelta(seconds=t + 1), self.stop):
                break
            libsumo.simulationStep()
            t = float(libsumo.simulation.getTime())
            loops.sample()
            if self.listener is not None:
                self._follow_orders(tl, self.listener, t)
            if self.adaptive is not None:
                self.adaptive.step(t)
            self._signal_changes(tl, t)
            if round(t) % self.interval_s == 0:
                for batch in loops.read(t, self.interval_s):
                    self._publish(gateway_of[batch.site], batch)
                    self.stats.batches += 1
            self.stats.sim_s, self.stats.wall_s = t, time.monotonic() - started
            if t >= next_report:
                next_report += PROGRESS_EVERY_S
                log.info(
                    "sumo gateway at %.0f s of %.0f (%.1f sim s per wall s, %d vehicles)",
                    t,
                    self.run_s,
                    t / max(1e-9, self.stats.wall_s),
                    libsumo.vehicle.getIDCount(),
                )
        self.stats.loop_totals = dict(loops.totals)

    def _publish(self, gw: str, message: Any) -> None:
        message = msgspec.structs.replace(message, gateway=gw, seq=self.seq[gw])
        self.seq[gw] += 1
        self.publishers[gw].publish(message)

    def _signal_changes(self, tl: Any, t: float) -> None:
        ts = self.t0 + timedelta(seconds=t)
        for j in self.junctions.values():
            state = tl.getRedYellowGreenState(j.data.tls)
            adaptive = self.adaptive is not None and self.adaptive.controls(j.site)
            shown = ADAPTIVE_PROGRAM if adaptive else j.program
            if state == j.last_state and shown == j.last_shown:
                continue
            j.last_state, j.last_shown = state, shown
            to_change: float | None = None
            if self.adaptive is not None and adaptive:
                name = self.adaptive.phase_name(j.site, state)  # decided second by second
            else:
                names = j.names.get(j.program, ())
                index = tl.getPhase(j.data.tls)
                name = names[index] if index < len(names) else f"#{index}"
                to_change = max(0.0, round(tl.getNextSwitch(j.data.tls) - t, 3))
            self._publish(
                j.gateway,
                payloads.SignalState("-", 0, j.site, ts, shown, name, state, to_change),
            )
            self.stats.signal_states += 1

    def _follow_orders(self, tl: Any, listener: PlanFeed, t: float) -> None:
        now = self.t0 + timedelta(seconds=t)
        contact = listener.last_centre_contact(now)
        for j in self.junctions.values():
            message, counter = listener.latest(j.site)
            mode = control_mode(message, now, contact) if message is not None else "local"
            wanted = j.local_program
            if mode == "adaptive":
                wanted = ADAPTIVE_PROGRAM
            elif mode == "plan" and message is not None:
                problems = validate_plan(j.data.junction, message)
                if not problems:
                    wanted = self._plan_program(tl, j, message)
                elif counter != j.plan_seen:
                    self.stats.plans_refused += 1
                    log.warning("junction %s: plan refused: %s", j.site, "; ".join(problems))
            j.plan_seen = counter
            if wanted != j.running:
                self._switch(tl, j, wanted)

    def _plan_program(self, tl: Any, j: _Junction, message: dict[str, Any]) -> str:
        name = program_id(message)
        if name not in j.names:
            steps = plan_program(j.data, message)
            phases = [tl.Phase(s.duration_s, s.state) for s in steps]
            tl.setProgramLogic(j.data.tls, tl.Logic(name, 0, 0, phases))
            j.names[name] = tuple(s.name for s in steps)
        return name

    def _switch(self, tl: Any, j: _Junction, wanted: str) -> None:
        if j.running == ADAPTIVE_PROGRAM and self.adaptive is not None:
            self.adaptive.leave(j.site)
        if wanted == ADAPTIVE_PROGRAM:
            if self.adaptive is None:
                assert self.loops is not None
                tls_of = {site: jj.data.tls for site, jj in self.junctions.items()}
                layouts = layouts_for(self.source.info, self.source.loops)
                self.adaptive = FieldAdaptive(tl, self.loops, layouts, tls_of)
            self.adaptive.enter(j.site)
            self.stats.adaptive_orders += 1
            log.info("junction %s: under adaptive control", j.site)
        else:
            tl.setProgram(j.data.tls, wanted)
            tl.setPhase(j.data.tls, 0)
            j.program = wanted
            if wanted == j.local_program:
                self.stats.fallbacks += 1
                log.info("junction %s: back to its local program %s", j.site, wanted)
            else:
                self.stats.plans_applied += 1
                log.info("junction %s: running %s", j.site, wanted)
        j.running = wanted
