"""The fault suite's knobs: short in CI, long in a soak run, from environment variables.

    CITYTRAFFIC_FAULT_RATE_RPS        readings/s the gateway publishes (default 3000)
    CITYTRAFFIC_FAULT_KILL_READINGS   readings of the kill -9 run (default 100000)
    CITYTRAFFIC_FAULT_KILLS           kill -9 of the ingest during that run (default 5)
    CITYTRAFFIC_FAULT_BROKER_RESTARTS mosquitto SIGTERM restarts (default 3)
    CITYTRAFFIC_FAULT_OUTAGE_S        how long influxd stays down (default 20; soak run 120)
    CITYTRAFFIC_FAULT_CUT_S           how long the gateway-broker link stays cut (default 5)

e.g. `CITYTRAFFIC_FAULT_OUTAGE_S=120 CITYTRAFFIC_FAULT_CUT_S=60 pytest tests/faults`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def _env(name: str, default: float) -> float:
    value = os.environ.get(f"CITYTRAFFIC_FAULT_{name}", "").strip()
    return float(value) if value else default


@dataclass(frozen=True)
class Knobs:
    rate_rps: float
    kill_readings: int
    kills: int
    broker_restarts: int
    outage_s: float
    cut_s: float

    @classmethod
    def from_env(cls) -> Knobs:
        return cls(
            rate_rps=_env("RATE_RPS", 3000),
            kill_readings=int(_env("KILL_READINGS", 100_000)),
            kills=int(_env("KILLS", 5)),
            broker_restarts=int(_env("BROKER_RESTARTS", 3)),
            outage_s=_env("OUTAGE_S", 20),
            cut_s=_env("CUT_S", 5),
        )
