"""Sensor and gateway faults for every simulator, with a ground-truth file (docs/simulators.md).

- `spec`: the fault spec (command-line string or JSON/YAML file) -> `FaultPlan`;
- `transforms`: `GatewayFaults`, the pure per-gateway transform (messages in, messages or raw
  bytes out, ground-truth records);
- `malformed`: the corrupt payloads;
- `groundtruth`: the JSONL ground-truth file, reader and per-fault summary;
- `publisher`: `FaultInjector` / `FaultyPublisher`: wrap any simulator's publishers (a
  `GatewayPublisher` can `abort()`, i.e. die without DISCONNECT, and `publish_raw()`).
"""

from simulators.faults.base import RawSend, Step
from simulators.faults.groundtruth import (
    FaultRecord,
    FaultWindow,
    GroundTruthLog,
    read_ground_truth,
    summarize,
)
from simulators.faults.publisher import FaultInjector, FaultyPublisher
from simulators.faults.spec import (
    Fault,
    FaultPlan,
    FaultSpecError,
    FaultType,
    fault_plan,
    load_faults,
    parse_faults,
)
from simulators.faults.transforms import GatewayFaults

__all__ = [
    "Fault",
    "FaultInjector",
    "FaultPlan",
    "FaultRecord",
    "FaultSpecError",
    "FaultType",
    "FaultWindow",
    "FaultyPublisher",
    "GatewayFaults",
    "GroundTruthLog",
    "RawSend",
    "Step",
    "fault_plan",
    "load_faults",
    "parse_faults",
    "read_ground_truth",
    "summarize",
]
