"""The fault transform of one gateway: messages in, (messages or raw bytes) out, plus ground-truth
records. Pure and deterministic: no I/O, no clock (the wall time for `injected_at` is injected);
every random draw is keyed by (seed, fault, detector or site, source time), so the outcome does
not depend on how messages interleave between gateways.

Order inside one message: dead gateway (suppresses everything) -> reading faults in spec order
(stuck, dropout, noise; a batch left without readings is not sent, its seq stays used, as a
message lost before the broker) -> skew -> malformed -> duplicate -> reorder. Gateway status
messages pass untouched. Fault windows are in source time, relative to the run start `t0`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase

import msgspec

from citytraffic.messaging import payloads, topics
from simulators.faults.base import RawSend, Send, Step, as_dict, noisy
from simulators.faults.groundtruth import FaultRecord
from simulators.faults.malformed import EXPECTED_REASON, corrupt
from simulators.faults.spec import READING_FAULTS, Fault, FaultPlan, FaultType

ReadingMessage = payloads.DetectorBatch | payloads.SingleReading
SiteMessage = payloads.DetectorBatch | payloads.SingleReading | payloads.SignalState
_MESSAGE_ORDER = (FaultType.SKEW, FaultType.MALFORMED, FaultType.DUPLICATE, FaultType.REORDER)


@dataclass(slots=True)
class _Held:
    remaining: int  # messages still to overtake it
    sends: list[Send]


@dataclass(slots=True)
class _Dead:
    index: int
    start: datetime
    end: datetime | None
    seq: list[int] = field(default_factory=list)
    last_ts: datetime | None = None
    lost_unacked: int | None = None


def _topic(message: SiteMessage) -> str:
    return topics.site_topic(message.site, payloads.TOPIC_KIND[type(message)])


def _matches(value: str | None, patterns: tuple[str, ...]) -> bool:
    if not patterns:
        return True
    return value is not None and any(fnmatchcase(value, p) for p in patterns)


class GatewayFaults:
    """Applies the faults of `plan` to the messages of one gateway, in publishing order."""

    def __init__(
        self,
        plan: FaultPlan,
        gateway: str,
        t0: datetime,
        wall_now: Callable[[], datetime] | None = None,
    ) -> None:
        self.plan = plan
        self.gateway = gateway
        self.t0 = t0
        self._wall_now = wall_now
        self._faults = [
            (i, f)
            for i, f in enumerate(plan.faults)
            if _matches(gateway, f.gateway)
            and (f.type is not FaultType.DEAD or self._picked(i, f, gateway))
        ]
        self._windows = {id(f): self.window(f) for f in plan.faults}
        self._params = [f.params() for f in plan.faults]
        self._share_cache: dict[tuple[int, str], bool] = {}
        self._dead: _Dead | None = None
        self._fired: set[int] = set()
        self._last: dict[str, payloads.DetectorValue] = {}  # detector -> last reading as measured
        self._frozen: dict[tuple[int, str], payloads.DetectorValue] = {}
        self._counts: dict[int, int] = {}  # fault index -> events so far (malformed kinds)
        self._held: list[_Held] = []

    @property
    def dead(self) -> bool:
        return self._dead is not None

    @property
    def has_dead_faults(self) -> bool:
        return any(f.type is FaultType.DEAD for _, f in self._faults)

    @property
    def has_malformed_faults(self) -> bool:
        return any(f.type is FaultType.MALFORMED for _, f in self._faults)

    # ---- windows, selection, randomness -------------------------------------------------------

    def window(self, f: Fault) -> tuple[datetime, datetime | None]:
        start = self.t0 + timedelta(seconds=f.at_s)
        return start, None if f.for_s is None else start + timedelta(seconds=f.for_s)

    def _active(self, f: Fault, ts: datetime) -> bool:
        start, end = self._windows[id(f)]
        return start <= ts and (end is None or ts < end)

    def _uniforms(self, index: int, *key: object) -> list[float]:
        """Four uniforms in [0, 1) from a hash of (seed, fault, key): stable across runs and
        Python versions, independent of message order."""
        text = f"{self.plan.seed}|{index}|" + "|".join(map(str, key))
        h = hashlib.blake2b(text.encode(), digest_size=32).digest()
        return [int.from_bytes(h[i : i + 8], "little") / 2.0**64 for i in range(0, 32, 8)]

    def _picked(self, index: int, f: Fault, key: str) -> bool:
        if f.share >= 1.0:
            return True
        cached = self._share_cache.get((index, key))
        if cached is None:
            cached = self._uniforms(index, "share", key)[0] < f.share
            self._share_cache[(index, key)] = cached
        return cached

    def _hit(self, index: int, f: Fault, key: str, ts: datetime, seq: int) -> bool:
        return f.p >= 1.0 or self._uniforms(index, "p", key, ts.timestamp(), seq)[0] < f.p

    def _record(
        self,
        index: int,
        f: Fault,
        message: SiteMessage,
        detector: str | None = None,
        **detail: object,
    ) -> FaultRecord:
        interval_s = getattr(message, "interval_s", 0)
        return FaultRecord(
            fault=f.type.value,
            fault_id=f"f{index}",
            gateway=self.gateway,
            site=message.site,
            detector=detector,
            start=message.ts - timedelta(seconds=interval_s),
            end=message.ts,
            seq=[message.seq],
            params=self._params[index],
            detail=dict(detail),
            injected_at=self._wall_now() if self._wall_now else None,
        )

    # ---- the transform ------------------------------------------------------------------------

    def process(self, message: payloads.Message) -> Step:
        step = Step()
        if isinstance(message, payloads.GatewayStatus):
            step.sends.append(message)
            return step
        if self._dead_check(message, step):
            return step
        out: SiteMessage | None = message
        if isinstance(message, ReadingMessage):
            out = self._readings(message, step.records)
        if out is None:
            return step
        sends, held = self._message_faults(out, step.records)
        if held:
            return step
        step.sends.extend(sends)
        for entry in self._held:
            entry.remaining -= 1
        step.sends.extend(s for e in self._held if e.remaining <= 0 for s in e.sends)
        self._held = [e for e in self._held if e.remaining > 0]
        return step

    def drain(self) -> list[Send]:
        """Messages still held back by `reorder` (sent at the end of the run)."""
        out = [s for e in self._held for s in e.sends]
        self._held = []
        return out

    def finish(self, lost_unacked: int | None = None) -> list[FaultRecord]:
        """Close an open dead period (end of the run)."""
        if self._dead is None:
            return []
        if lost_unacked is not None:
            self._dead.lost_unacked = lost_unacked
        return [self._close_dead(revived=False)]

    def note_lost_unacked(self, n: int) -> None:
        """The publisher reports how many buffered messages died with the connection."""
        if self._dead is not None:
            self._dead.lost_unacked = n

    def _dead_check(self, message: SiteMessage, step: Step) -> bool:
        ts = message.ts
        if self._dead is not None:
            if self._dead.end is not None and ts >= self._dead.end:
                step.records.append(self._close_dead(revived=True))
                step.revive = True
            else:
                self._dead.seq.append(message.seq)
                self._dead.last_ts = ts
                return True
        for index, f in self._faults:
            if f.type is FaultType.DEAD and index not in self._fired and self._active(f, ts):
                self._fired.add(index)
                start, end = self.window(f)
                self._dead = _Dead(index, start, end, [message.seq], ts)
                step.kill = True
                return True
        return False

    def _close_dead(self, revived: bool) -> FaultRecord:
        dead = self._dead
        assert dead is not None
        self._dead = None
        f = self.plan.faults[dead.index]
        return FaultRecord(
            fault=f.type.value,
            fault_id=f"f{dead.index}",
            gateway=self.gateway,
            start=dead.start,
            end=dead.end if revived or dead.end is not None else dead.last_ts,
            seq=dead.seq,
            params=self._params[dead.index],
            detail={
                "suppressed": len(dead.seq),
                "revived": revived,
                "lost_unacked": dead.lost_unacked,
            },
            injected_at=self._wall_now() if self._wall_now else None,
        )

    def _readings(self, message: ReadingMessage, records: list[FaultRecord]) -> SiteMessage | None:
        values = (
            message.readings
            if isinstance(message, payloads.DetectorBatch)
            else [
                payloads.DetectorValue(
                    message.detector, message.count, message.occupancy, message.speed_kmh
                )
            ]
        )
        faults = [
            (i, f)
            for i, f in self._faults
            if f.type in READING_FAULTS
            and _matches(message.site, f.site)
            and self._active(f, message.ts)
        ]
        kept: list[payloads.DetectorValue] = []
        for original in values:
            value: payloads.DetectorValue | None = original
            for index, f in faults:
                if value is None:
                    break
                det = original.detector
                if not (_matches(det, f.detector) and self._picked(index, f, det)):
                    continue
                if not self._hit(index, f, det, message.ts, message.seq):
                    continue
                value = self._reading_fault(index, f, message, value, records)
            self._last[original.detector] = original
            if value is not None:
                kept.append(value)
        if not kept:
            return None
        if isinstance(message, payloads.DetectorBatch):
            return msgspec.structs.replace(message, readings=kept)
        v = kept[0]
        return msgspec.structs.replace(
            message, count=v.count, occupancy=v.occupancy, speed_kmh=v.speed_kmh
        )

    def _reading_fault(
        self,
        index: int,
        f: Fault,
        message: ReadingMessage,
        value: payloads.DetectorValue,
        records: list[FaultRecord],
    ) -> payloads.DetectorValue | None:
        det = value.detector
        new: payloads.DetectorValue | None
        if f.type is FaultType.DROPOUT:
            new = None
        elif f.type is FaultType.STUCK:
            frozen = self._frozen.setdefault((index, det), self._last.get(det, value))
            new = payloads.DetectorValue(det, frozen.count, frozen.occupancy, frozen.speed_kmh)
        else:
            u = self._uniforms(index, "noise", det, message.ts.timestamp())
            new = noisy(value, f.sd, u)
        sent = None if new is None else as_dict(new)
        records.append(self._record(index, f, message, det, original=as_dict(value), sent=sent))
        return new

    def _message_faults(
        self, message: SiteMessage, records: list[FaultRecord]
    ) -> tuple[list[Send], bool]:
        original = message
        sends: list[Send] = [message]
        for ftype in _MESSAGE_ORDER:
            for index, f in self._faults:
                if f.type is not ftype or not self._applies(index, f, original):
                    continue
                n = self._counts.get(index, 0)
                self._counts[index] = n + 1
                if ftype is FaultType.SKEW:
                    message = msgspec.structs.replace(
                        message, ts=message.ts + timedelta(seconds=f.offset_s)
                    )
                    sends = [message]
                    records.append(self._record(index, f, original, sent_ts=message.ts))
                elif ftype is FaultType.MALFORMED and not isinstance(sends[0], RawSend):
                    kind = f.kinds[n % len(f.kinds)]
                    payload, variant = corrupt(message, kind, n // len(f.kinds))
                    sends = [RawSend(_topic(message), payload)]
                    records.append(
                        self._record(
                            index,
                            f,
                            original,
                            kind=kind,
                            variant=variant,
                            bytes=len(payload),
                            expected_reason=EXPECTED_REASON[kind],
                        )
                    )
                elif ftype is FaultType.DUPLICATE:
                    sends = sends * (1 + f.copies)
                    records.append(self._record(index, f, original, copies=f.copies))
                elif ftype is FaultType.REORDER:
                    self._held.append(_Held(f.delay, list(sends)))
                    records.append(self._record(index, f, original, delay=f.delay))
                    return sends, True
        return sends, False

    def _applies(self, index: int, f: Fault, message: SiteMessage) -> bool:
        return (
            _matches(message.site, f.site)
            and self._active(f, message.ts)
            and self._picked(index, f, message.site)
            and self._hit(index, f, message.site, message.ts, message.seq)
        )
