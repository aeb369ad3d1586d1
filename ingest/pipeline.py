"""validate -> batch -> write -> ack: the ingest pipeline, free of MQTT and of the main loop.

`handle()` takes one received message: it is decoded, checked and turned into store items
(line protocol lines when the store has `write_lines`, else Points) appended to the current
batch. Every message, good or bad, joins the batch's ack list in arrival order. `seal()` takes
the batch out, `make_durable()` (which may run on a writer thread) makes it durable and
`finish()` then acknowledges its messages, in order (`commit()` does all three):

    store write (204)            -> durable
    StoreUnavailable / AuthError -> the batch goes to a spool segment (fsync'd), store marked
                                    down for `store_retry_s`; following batches spool directly
    PointsRejected               -> the batch is bisected to find the refused point(s); they are
                                    dead-lettered with the store's reason, the rest is written
    decode error / unknown topic -> the message is dead-lettered whole (and acked)
    future-stamped               -> quarantined (never stored, never at server time)

Dead letters and quarantine records are fsync'd before the acks. A failure to write the spool or
a dead letter (disk full) raises: nothing of that batch is acked, the broker redelivers it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from citytraffic.domain.errors import PayloadError
from citytraffic.messaging import payloads
from citytraffic.messaging.client import Received
from citytraffic.messaging.topics import ParsedTopic, parse_topic
from citytraffic.settings import IngestSettings
from citytraffic.storage.lineprotocol import LineProtocolError
from citytraffic.storage.points import Point
from citytraffic.storage.port import PointsRejected, Store, StoreAuthError, StoreUnavailable
from ingest.convert import DETECTOR, is_future, reading_count, source_time_ns, to_points
from ingest.deadletter import JsonlLog, Rejected
from ingest.lines import LineBuilder
from ingest.metrics import IngestMetrics
from ingest.spool import LINES, POINTS, Segment, Spool

log = logging.getLogger(__name__)

# Acknowledges messages in order; returns how many could not be (their connection is gone).
Ack = Callable[[Sequence[Received]], int]


@dataclass(slots=True)
class Sealed:
    """A batch taken out of the pipeline, on its way to being durable."""

    items: list[Any]  # str lines or Points
    origins: list[int]  # per item: index into messages
    messages: list[Received]  # everything to acknowledge, in arrival order
    rejected: list[Rejected]  # dead letters
    future: list[Rejected]  # quarantine records
    readings: int
    oldest_ts_ns: int | None
    refused: list[tuple[int, str]] = field(default_factory=list)  # item index, store's reason


Writer = Callable[[Sequence[Any]], None]
_UNSEEN = ParsedTopic("", "")  # marks a topic not parsed yet


class Pipeline:
    def __init__(
        self,
        store: Store,
        config: IngestSettings,
        spool: Spool,
        dead_letters: JsonlLog,
        quarantine: JsonlLog,
        metrics: IngestMetrics,
        ack: Ack,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.store = store
        self.config = config
        self.spool = spool
        self.dead_letters = dead_letters
        self.quarantine = quarantine
        self.metrics = metrics
        self.ack = ack
        self.clock_ns = clock_ns
        write_lines = getattr(store, "write_lines", None)
        self._write_lines: Callable[[bytes], None] | None = (
            write_lines if callable(write_lines) else None
        )
        self.uses_lines = self._write_lines is not None
        self._builder = LineBuilder()
        self._topics: dict[str, ParsedTopic | None] = {}
        self.store_down = False
        self._retry_at = 0.0
        self.received = 0  # messages handled (for the main loop's idle detection)
        self._reset()
        self._update_spool_gauges()

    def _reset(self) -> None:
        self.items: list[Any] = []  # str lines or Points
        self.origins: list[int] = []  # per item: index into self.messages
        self.messages: list[Received] = []
        self.rejected: list[Rejected] = []
        self.future: list[Rejected] = []
        self.readings = 0
        self.oldest_ts_ns: int | None = None
        self.started = 0.0

    # ---- intake ------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return len(self.messages)

    def due(self, now_mono: float) -> bool:
        if len(self.items) >= self.config.batch_size:
            return True
        return bool(self.messages) and (now_mono - self.started) * 1000 >= self.config.batch_max_ms

    def handle(self, msg: Received) -> None:
        """Take one message into the batch. Never raises for bad input."""
        self.received += 1
        receive_ns = self.clock_ns()
        if not self.messages:
            self.started = time.monotonic()
        index = len(self.messages)
        self.messages.append(msg)
        self.metrics.messages.inc()
        if msg.dup:
            self.metrics.redelivered.inc()
        parsed = self._topics.get(msg.topic, _UNSEEN)
        if parsed is _UNSEEN:  # topics repeat (one per site and kind): parse each once
            if len(self._topics) > 100_000:
                self._topics.clear()
            parsed = self._topics[msg.topic] = parse_topic(msg.topic)
        if parsed is None:
            self._reject(msg, "unknown_topic", "not a traffic/v1 gateway topic", receive_ns)
            return
        try:
            message = payloads.decode(msg.payload, parsed.kind, parsed.key)
        except PayloadError as exc:
            self._reject(msg, exc.reason, exc.detail, receive_ns)
            return
        t_ns = source_time_ns(message)
        if t_ns is not None and is_future(t_ns, receive_ns, self.config.future_tolerance_s):
            ahead_s = (t_ns - receive_ns) / 1e9
            self.future.append(
                Rejected("future", msg.topic, msg.payload, f"{ahead_s:.1f} s ahead", receive_ns)
            )
            return
        if t_ns is None and msg.retain:
            return  # a retained status without a time: old news of unknown age, not stored
        try:
            if self.uses_lines:
                items: list[Any] = self._builder.lines(message, receive_ns)
            else:
                items = to_points(message, receive_ns, self._builder.limits)
        except LineProtocolError as exc:
            self._reject(msg, "unencodable", str(exc), receive_ns)
            return
        self.items.extend(items)
        self.origins.extend([index] * len(items))
        self.readings += reading_count(message)
        if t_ns is not None and (self.oldest_ts_ns is None or t_ns < self.oldest_ts_ns):
            self.oldest_ts_ns = t_ns

    def _reject(self, msg: Received, reason: str, detail: str, receive_ns: int) -> None:
        self.rejected.append(Rejected(reason, msg.topic, msg.payload, detail, receive_ns))

    # ---- commit ------------------------------------------------------------------------------

    def seal(self) -> Sealed | None:
        """Take the current batch out (main thread); None when it is empty."""
        if not self.messages:
            return None
        sealed = Sealed(
            self.items,
            self.origins,
            self.messages,
            self.rejected,
            self.future,
            self.readings,
            self.oldest_ts_ns,
        )
        self._reset()
        return sealed

    def make_durable(self, b: Sealed) -> Sealed:
        """Write (or spool) the items and fsync the dead letters and quarantine records.

        May run on a writer thread: touches the store, spool and files, never MQTT. Raises
        OSError when the spool or a dead-letter file cannot be written (then nothing may be
        acknowledged)."""
        if b.items:
            b.refused = self._store_batch(b.items)
        for i, reason in b.refused:
            topic = b.messages[b.origins[i]].topic
            b.rejected.append(Rejected("rejected_by_store", topic, _item_bytes(b.items[i]), reason))
        self.dead_letters.append(b.rejected)
        self.quarantine.append(b.future)
        return b

    def finish(self, b: Sealed) -> None:
        """Count and acknowledge every message of a durable batch, in order (main thread)."""
        for r in b.rejected:
            self.metrics.dead_letters.labels(r.reason).inc()
        if b.future:
            self.metrics.quarantined.inc(len(b.future))
        refused_readings = sum(1 for i, _ in b.refused if _is_reading(b.items[i]))
        self.metrics.readings.inc(b.readings - refused_readings)
        self.metrics.points.inc(len(b.items) - len(b.refused))
        if b.oldest_ts_ns is not None:
            self.metrics.lag_seconds.set((self.clock_ns() - b.oldest_ts_ns) / 1e9)
        stale = self.ack(b.messages)
        if stale:
            self.metrics.stale_acks.inc(stale)

    def commit(self) -> None:
        """seal + make_durable + finish, synchronously."""
        sealed = self.seal()
        if sealed is not None:
            self.finish(self.make_durable(sealed))

    def _store_batch(self, items: list[Any]) -> list[tuple[int, str]]:
        """Write in chunks of at most batch_size items; indices of refused items."""
        size = self.config.batch_size
        refused: list[tuple[int, str]] = []
        for lo in range(0, len(items), size):
            chunk = items[lo : lo + size]
            refused.extend((lo + i, why) for i, why in self._store_chunk(chunk))
        return refused

    def _store_chunk(self, items: list[Any]) -> list[tuple[int, str]]:
        if self.store_down and time.monotonic() < self._retry_at:
            self._spool(items)
            return []
        try:
            refused = self._bisect(items, 0, len(items), self._writer(self.uses_lines))
        except (StoreUnavailable, StoreAuthError) as exc:
            self._mark_down(exc)
            self._spool(items)
            return []
        self._mark_up()
        return refused

    def _writer(self, lines: bool) -> Writer:
        if lines:
            write_lines = self._write_lines
            assert write_lines is not None

            def write(items: Sequence[Any]) -> None:
                write_lines("\n".join(items).encode())

            return write
        return self.store.write

    def _bisect(self, items: list[Any], lo: int, hi: int, write: Writer) -> list[tuple[int, str]]:
        """Write items[lo:hi]; on PointsRejected split in halves to isolate refused items."""
        try:
            with self.metrics.batch_seconds.time():
                write(items[lo:hi])
            return []
        except PointsRejected as exc:
            if hi - lo == 1:
                return [(lo, str(exc))]
            mid = (lo + hi) // 2
            return self._bisect(items, lo, mid, write) + self._bisect(items, mid, hi, write)

    def _spool(self, items: list[Any]) -> None:
        if self.uses_lines:
            self.spool.put_lines(items)
        else:
            self.spool.put_points(items)
        self.metrics.spooled.inc()
        self._update_spool_gauges()

    def _mark_down(self, exc: Exception) -> None:
        kind = "auth" if isinstance(exc, StoreAuthError) else "unavailable"
        self.metrics.store_errors.labels(kind).inc()
        if not self.store_down:
            log.warning("store unavailable (%s): spooling batches to %s", exc, self.spool.directory)
        if isinstance(exc, StoreAuthError):
            log.error("store refused the credentials: %s (spooling; fix the configuration)", exc)
        self.store_down = True
        self.metrics.store_up.set(0)
        self._retry_at = time.monotonic() + self.config.store_retry_s

    def _mark_up(self) -> None:
        if self.store_down:
            log.info("store answers again; %d spool segments to drain", self.spool.depth)
        self.store_down = False
        self.metrics.store_up.set(1)

    def _update_spool_gauges(self) -> None:
        self.metrics.spool_depth.set(self.spool.depth)
        self.metrics.spool_bytes.set(self.spool.size_bytes)

    # ---- spool drain -------------------------------------------------------------------------

    def drain_one(self) -> bool:
        """Write the oldest spool segment to the store if it is due; True when one drained."""
        if self.store_down and time.monotonic() < self._retry_at:
            return False
        segment = self.spool.oldest()
        if segment is None:
            return False
        if segment.fmt == LINES and self._write_lines is None:
            log.error("spool segment %s holds line protocol but the store cannot take it", segment)
            self._retry_at = time.monotonic() + self.config.store_retry_s
            self.store_down = True
            return False
        try:
            items: list[Any] = (
                Spool.read_lines(segment) if segment.fmt == LINES else Spool.read_points(segment)
            )
        except (OSError, ValueError, msgspec.DecodeError) as exc:  # ValueError: bad UTF-8
            moved = self.spool.set_aside(segment)
            log.error("spool segment unreadable (%s); moved to %s", exc, moved)
            self.metrics.spool_unreadable.inc()
            self._update_spool_gauges()
            return False
        try:
            refused = self._bisect(items, 0, len(items), self._writer(segment.fmt == LINES))
        except (StoreUnavailable, StoreAuthError) as exc:
            self._mark_down(exc)
            return False
        self._mark_up()
        self._dead_letter_spooled(segment, items, refused)
        self.spool.remove(segment)
        self._update_spool_gauges()
        return True

    def _dead_letter_spooled(
        self, segment: Segment, items: list[Any], refused: list[tuple[int, str]]
    ) -> None:
        rejects = [
            Rejected("rejected_by_store", f"spool:{segment.path.name}", _item_bytes(items[i]), why)
            for i, why in refused
        ]
        self.dead_letters.append(rejects)
        for r in rejects:
            self.metrics.dead_letters.labels(r.reason).inc()


def _item_bytes(item: Any) -> bytes:
    return item.encode() if isinstance(item, str) else msgspec.json.encode(item)


def _is_reading(item: Any) -> bool:
    if isinstance(item, Point):
        return item.measurement == DETECTOR
    return isinstance(item, str) and item.startswith(DETECTOR + ",")


__all__ = ["POINTS", "Pipeline"]
