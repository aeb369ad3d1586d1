"""Run one scenario under one controller in-process with libsumo and measure it.

SUMO's own programs (static/actuated/delay_based) run untouched. citytraffic-side controllers
get, every `interval_s`, the decoded detector batches of every junction (LoopGateway) and their
signal status; their wishes go through PhaseDriver (minimum green, yellow, all-red) and become
`trafficlight.setRedYellowGreenState` calls. No controller sees a libsumo vehicle list.

Measurement (SUMO tripinfo with unfinished and undeparted vehicles): time loss per vehicle =
timeLoss + departDelay; a vehicle still driving or waiting for insertion when the run stops counts
with its loss so far. The run lasts until the network is empty or twice the demand duration.
"""

from __future__ import annotations

import os
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from control.controllers import SUMO_CONTROLLERS, make_controller
from control.phasing import PhaseDriver
from simulators.sumo.layout import junction_layouts
from simulators.sumo.loops import LoopGateway
from simulators.sumo.scenario import Scenario

Progress = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class RunMetrics:
    controller: str
    seed: int
    vehicles: int
    arrived: int
    mean_time_loss_s: float
    mean_travel_time_s: float
    teleports: int  # all teleports: jams (time-to-teleport) and collisions
    end_s: float
    wall_s: float
    switches: int
    collisions: int = 0  # SUMO collisions (a lane-change or braking artefact; teleported)
    emergency_braking: int = 0  # vehicles braking harder than they can comfortably (SUMO's count)


def run_controller(
    scenario: Scenario,
    controller: str,
    workdir: Path,
    interval_s: int = 1,
    min_green_s: float = 5.0,
    progress: Progress | None = None,
) -> RunMetrics:
    import libsumo

    own = controller not in SUMO_CONTROLLERS
    tls_type = "static" if own else SUMO_CONTROLLERS[controller]
    workdir.mkdir(parents=True, exist_ok=True)
    tripinfo = workdir / f"tripinfo-{controller}-{scenario.spec.demand_key()}-{os.getpid()}.xml"
    stats = tripinfo.with_name(tripinfo.name.replace("tripinfo-", "statistics-"))
    args = [
        "sumo",
        f"--net-file={scenario.nets[tls_type]}",
        f"--route-files={scenario.routes}",
        f"--seed={scenario.spec.seed}",
        "--no-step-log",
        "--duration-log.disable",
        "--no-warnings",
        f"--tripinfo-output={tripinfo}",
        "--tripinfo-output.write-unfinished",
        "--tripinfo-output.write-undeparted",
        f"--statistic-output={stats}",
    ]
    if own:
        args.append(f"--additional-files={scenario.detectors}")
    started = time.monotonic()
    limit_s = 2 * scenario.spec.duration_s
    teleports = 0
    collisions = 0
    switches = 0
    libsumo.start(args)
    try:
        step = _own_step(scenario, controller, interval_s, min_green_s) if own else None
        t = 0.0
        next_report = 300.0
        while t < limit_s and libsumo.simulation.getMinExpectedNumber() > 0:
            libsumo.simulationStep()
            t = libsumo.simulation.getTime()
            teleports += libsumo.simulation.getStartingTeleportNumber()
            collisions += len(libsumo.simulation.getCollisions())
            if step is not None:
                step(t)
            if progress is not None and t >= next_report:
                progress(t)
                next_report += 300.0
        if step is not None:
            switches = step.switches()
    finally:
        libsumo.close()
    loss, travel, n, arrived = _read_tripinfo(tripinfo)
    tripinfo.unlink(missing_ok=True)
    braking = _read_emergency_braking(stats)
    stats.unlink(missing_ok=True)
    return RunMetrics(
        controller=controller,
        seed=scenario.spec.seed,
        vehicles=n,
        arrived=arrived,
        mean_time_loss_s=loss,
        mean_travel_time_s=travel,
        teleports=teleports,
        end_s=t,
        wall_s=time.monotonic() - started,
        switches=switches,
        collisions=collisions,
        emergency_braking=braking,
    )


class _OwnStep:
    def __init__(self, scenario: Scenario, controller: str, interval_s: int, min_green_s: float):
        import libsumo

        self._tl = libsumo.trafficlight
        self.layouts = junction_layouts(scenario)
        self.ctrl = make_controller(controller, self.layouts)
        self.drivers = {s: PhaseDriver(lay, min_green_s) for s, lay in self.layouts.items()}
        self.gateway = LoopGateway(
            {
                s: [
                    d
                    for a in lay.approaches.values()
                    for d in (*a.stop_detectors, *a.upstream_detectors, *a.advance_detectors)
                ]
                for s, lay in self.layouts.items()
            }
        )
        self.interval_s = interval_s
        for s, lay in self.layouts.items():
            self._tl.setRedYellowGreenState(s, lay.green_states[0])

    def __call__(self, t: float) -> None:
        self.gateway.sample()
        for site, drv in self.drivers.items():
            state = drv.tick(t)
            if state is not None:
                self._tl.setRedYellowGreenState(site, state)
        if round(t) % self.interval_s:
            return
        batches = self.gateway.read(t, self.interval_s)
        status = {site: drv.status(t) for site, drv in self.drivers.items()}
        for site, phase in self.ctrl.decide(t, batches, status).items():
            state = self.drivers[site].request(phase, t)
            if state is not None:
                self._tl.setRedYellowGreenState(site, state)

    def switches(self) -> int:
        return sum(d.switches for d in self.drivers.values())


def _own_step(scenario: Scenario, controller: str, interval_s: int, min_green_s: float) -> _OwnStep:
    return _OwnStep(scenario, controller, interval_s, min_green_s)


def _read_emergency_braking(path: Path) -> int:
    """SUMO's surrogate safety count (statistic output, `<safety emergencyBraking=..>`): how many
    times a vehicle had to brake harder than its normal maximum, e.g. surprised by a yellow."""
    root = ET.parse(path).getroot()  # noqa: S314 (SUMO statistics we asked for)
    safety = root.find("safety")
    return int(safety.get("emergencyBraking", "0")) if safety is not None else 0


def _read_tripinfo(path: Path) -> tuple[float, float, int, int]:
    """(mean time loss incl. departure delay, mean travel time, vehicles, arrived)."""
    losses = 0.0
    travel = 0.0
    n = 0
    arrived = 0
    for _, el in ET.iterparse(path):  # noqa: S314 (SUMO tripinfo we asked for)
        if el.tag != "tripinfo":
            continue
        depart = float(el.get("depart", "-1"))
        delay = float(el.get("departDelay", "0"))
        loss = float(el.get("timeLoss", "0"))
        duration = float(el.get("duration", "0"))
        if float(el.get("arrival", "-1")) >= 0:
            arrived += 1
        if depart < 0:  # never inserted: waited from its planned departure until the end
            duration = 0.0
        losses += max(0.0, loss) + max(0.0, delay)
        travel += max(0.0, duration) + max(0.0, delay)
        n += 1
        el.clear()
    if n == 0:
        return 0.0, 0.0, 0, 0
    return losses / n, travel / n, n, arrived
