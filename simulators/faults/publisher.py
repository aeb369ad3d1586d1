"""The publisher side of the fault layer: wraps each gateway's publisher.

    injector = FaultInjector(plan, t0, clock)          # one per run; t0 = run start (source time)
    pub = injector.wrap(gateway_id, publisher, factory)  # a publisher again: use it as before
    ...                                                # publish / flush / close as usual
    injector.close()                                   # writes open records, closes the file

Any simulator (synthetic, METR-LA, the SUMO gateway) plugs in by wrapping the publishers it
creates. `publish()` runs the message through `GatewayFaults`; malformed bytes go through the
publisher's `publish_raw`; a dead gateway calls `abort()` (connection dropped without DISCONNECT,
so the broker publishes the last will) and, when its window ends, gets a fresh publisher from
`factory` (a new connection: `online` again). `citytraffic.messaging.publisher.GatewayPublisher`
has both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol, runtime_checkable

from citytraffic.messaging import payloads
from simulators.clock import Clock
from simulators.faults.base import RawSend, Send
from simulators.faults.groundtruth import GroundTruthLog
from simulators.faults.spec import FaultPlan
from simulators.faults.transforms import GatewayFaults

log = logging.getLogger(__name__)


class SimPublisher(Protocol):
    def publish(self, message: payloads.Message) -> None: ...

    def flush(self, timeout_s: float = ...) -> bool: ...

    def close(self, timeout_s: float = ...) -> bool: ...


@runtime_checkable
class RawCapable(Protocol):
    def publish_raw(self, topic: str, payload: bytes, retain: bool = False) -> None: ...


@runtime_checkable
class Abortable(Protocol):
    def abort(self) -> int:
        """Drop the connection without DISCONNECT; return how many messages were unacked."""
        ...


class FaultyPublisher:
    """One gateway's publisher with its faults applied (same interface as the wrapped one)."""

    def __init__(
        self,
        gateway_id: str,
        publisher: SimPublisher,
        faults: GatewayFaults,
        ground_truth: GroundTruthLog,
        factory: Callable[[str], SimPublisher] | None = None,
    ) -> None:
        self.gateway_id = gateway_id
        self.inner = publisher
        self.faults = faults
        self._log = ground_truth
        self._factory = factory
        self._down = False  # the connection was aborted and not revived

    def publish(self, message: payloads.Message) -> None:
        step = self.faults.process(message)
        if step.revive:
            self._revive()
        if step.kill:
            self._abort()
        for record in step.records:
            self._log.append(record)
        for send in step.sends:
            self._send(send)

    def flush(self, timeout_s: float = 30.0) -> bool:
        for send in self.faults.drain():
            self._send(send)
        return True if self._down else self.inner.flush(timeout_s)

    def close(self, timeout_s: float = 10.0) -> bool:
        for send in self.faults.drain():
            self._send(send)
        for record in self.faults.finish():
            self._log.append(record)
        return True if self._down else self.inner.close(timeout_s)

    def _send(self, send: Send) -> None:
        if self._down:
            return
        if isinstance(send, RawSend):
            if not isinstance(self.inner, RawCapable):
                raise TypeError(f"publisher of {self.gateway_id} cannot publish raw bytes")
            self.inner.publish_raw(send.topic, send.payload)
        else:
            self.inner.publish(send)

    def _abort(self) -> None:
        if not isinstance(self.inner, Abortable):
            raise TypeError(f"publisher of {self.gateway_id} cannot simulate a dead gateway")
        lost = self.inner.abort()
        self.faults.note_lost_unacked(lost)
        self._down = True
        log.warning("fault: gateway %s is dead (%d messages were unacked)", self.gateway_id, lost)

    def _revive(self) -> None:
        if self._factory is None:
            log.warning("fault: gateway %s cannot come back (no factory)", self.gateway_id)
            return
        self.inner = self._factory(self.gateway_id)
        self._down = False
        log.warning("fault: gateway %s is back", self.gateway_id)


class FaultInjector:
    """The fault layer of one run: wraps publishers, owns the ground-truth file."""

    def __init__(self, plan: FaultPlan, t0: datetime, clock: Clock | None = None) -> None:
        if t0.tzinfo is None:
            raise ValueError("t0 must be timezone-aware")
        self.plan = plan
        self.t0 = t0
        self._clock = clock
        self.ground_truth = GroundTruthLog(plan.ground_truth)
        self.gateways: dict[str, GatewayFaults] = {}

    def wrap(
        self,
        gateway_id: str,
        publisher: SimPublisher,
        factory: Callable[[str], SimPublisher] | None = None,
    ) -> FaultyPublisher:
        """Raises TypeError when the plan needs what the publisher cannot do (abort, raw)."""
        now = self._clock.now if self._clock is not None else None
        faults = GatewayFaults(self.plan, gateway_id, self.t0, now)
        if faults.has_dead_faults and not isinstance(publisher, Abortable):
            raise TypeError(f"gateway {gateway_id}: a dead-gateway fault needs an abort()")
        if faults.has_malformed_faults and not isinstance(publisher, RawCapable):
            raise TypeError(f"gateway {gateway_id}: malformed payloads need publish_raw()")
        self.gateways[gateway_id] = faults
        return FaultyPublisher(gateway_id, publisher, faults, self.ground_truth, factory)

    def close(self) -> None:
        """Close the ground-truth file; warn about faults that never hit anything."""
        for index, fault in enumerate(self.plan.faults):
            if f"f{index}" not in self.ground_truth.fault_ids:
                log.warning(
                    "fault f%d (%s) was never injected: check its selectors and window",
                    index,
                    fault.type.value,
                )
        self.ground_truth.close()
