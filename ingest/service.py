"""The ingest service: MQTT (QoS 1, persistent session, manual ack) -> Store.

The paho loop is driven from the main thread (`MqttConsumer.step`): receiving, decoding,
batching and acknowledging happen there; one writer thread makes sealed batches durable (store
write, or spool) so that writing overlaps with receiving the next batch. Batches complete in
order and are acknowledged by the main thread, in order.

The MQTT session is persistent (`clean_session=False`, fixed client id
`settings.mqtt.client_id`): messages not yet acknowledged when the process dies are redelivered
to the next process with the same id. A message is acknowledged only after its batch is durable
(see `ingest.pipeline`). The broker's per-client in-flight limit (mosquitto
`max_inflight_messages`) bounds how many unacknowledged messages we hold; a batch is also
written when no message arrived for `IDLE_FLUSH_S`, so a small broker window (mosquitto's
default is 20) cannot stall batching until `batch_max_ms`.

SIGTERM / SIGINT end `run()` after the current batch is committed and its acks are sent.
"""

from __future__ import annotations

import collections
import logging
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from types import FrameType

from prometheus_client import start_http_server

from citytraffic.messaging import topics
from citytraffic.messaging.client import MqttAuthError, MqttConsumer, Received, Subscription
from citytraffic.settings import Settings
from citytraffic.storage.port import Store, StoreError
from ingest.deadletter import JsonlLog
from ingest.metrics import IngestMetrics
from ingest.pipeline import Pipeline, Sealed
from ingest.spool import Spool

log = logging.getLogger(__name__)

IDLE_FLUSH_S = 0.02
BURST_PACKETS = 256
MAX_BATCHES_IN_FLIGHT = 2  # one being written, one waiting: the writer never idles


class IngestService:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        metrics_port: int | None = None,
        stats_interval_s: float = 10.0,
        install_signals: bool = True,
    ) -> None:
        self.settings = settings
        self.store = store
        self.metrics = IngestMetrics()
        self.metrics_port = metrics_port
        self.stats_interval_s = stats_interval_s
        self.install_signals = install_signals
        cfg, mq = settings.ingest, settings.mqtt
        self.spool_dir = settings.path(cfg.spool_dir, "ingest/spool")
        self.dead_letter_path = settings.path(cfg.dead_letter_path, "ingest/dead_letters.jsonl")
        self.quarantine_path = settings.path(cfg.quarantine_path, "ingest/quarantine.jsonl")
        self.consumer = MqttConsumer(
            mq.host,
            mq.port,
            mq.client_id,
            self._handle,
            username=mq.username,
            password=mq.password.get_secret_value() if mq.password else None,
            clean_session=False,
            manual_ack=True,
            keepalive_s=mq.keepalive_s,
            tls=mq.tls,
            tls_ca_file=str(mq.ca_file) if mq.ca_file else None,
        )
        self.consumer.subscribe(
            *(Subscription(topics.shared(f, mq.share_group), 1) for f in topics.INGEST_FILTERS)
        )
        self.pipeline = Pipeline(
            store,
            cfg,
            Spool(self.spool_dir),
            JsonlLog(self.dead_letter_path),
            JsonlLog(self.quarantine_path),
            self.metrics,
            self.consumer.ack_many,
        )
        self._stop = threading.Event()
        self._last_stats = 0.0
        # One writer thread: store writes, spool and dead-letter fsyncs overlap with receiving
        # and decoding the next batch. Batches complete in order, so acks stay in order.
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="ingest-writer")
        self._in_flight: collections.deque[Future[Sealed]] = collections.deque()
        self._in_flight_messages = 0
        self._drain: Future[bool] | None = None
        self._failed = False

    @property
    def instance(self) -> str:
        return self.settings.mqtt.client_id

    def _handle(self, msg: Received) -> None:
        self.pipeline.handle(msg)

    def request_stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        if not self._stop.is_set():
            log.info("ingest: stopping (signal %s)", signum)
        self._stop.set()

    def run(self) -> None:
        """Consume until SIGTERM/SIGINT (or `request_stop()`); flushes before returning.

        Raises MqttAuthError when the broker refuses the credentials.
        """
        if self.install_signals and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
        if self.metrics_port is not None:
            start_http_server(
                self.metrics_port, self.settings.ingest.metrics_host, registry=self.metrics.registry
            )
        log.info(
            "ingest: %s:%d as %r -> %s (batch %d points / %d ms)",
            self.settings.mqtt.host,
            self.settings.mqtt.port,
            self.instance,
            type(self.store).__name__,
            self.settings.ingest.batch_size,
            self.settings.ingest.batch_max_ms,
        )
        try:
            self._loop()
        except BaseException:
            self._failed = True
            raise
        finally:
            self._shutdown()

    def _loop(self) -> None:
        pipeline, consumer = self.pipeline, self.consumer
        max_held = self.settings.ingest.max_pending_messages
        while not self._stop.is_set():
            if self._in_flight and pipeline.pending + self._in_flight_messages >= max_held:
                # Telegraf-style cap on undelivered messages: stop reading until a batch is
                # durable (the broker keeps the rest queued for our session).
                wait([self._in_flight[0]], timeout=0.1)
                self._finish_durable()
                continue
            before = pipeline.received
            # With a batch being written, wake often: ack it as soon as it is durable.
            timeout_s = IDLE_FLUSH_S if pipeline.pending else 0.1
            if self._in_flight or (pipeline.spool.depth and not pipeline.store_down):
                timeout_s = 0.005  # also while draining the spool: do not idle between segments
            consumer.step(timeout_s, BURST_PACKETS)
            self._finish_durable()
            now = time.monotonic()
            idle = pipeline.received == before
            if (
                pipeline.pending
                and (idle or pipeline.due(now))
                and len(self._in_flight) < MAX_BATCHES_IN_FLIGHT
            ):
                self._submit(pipeline.seal())
            # Drain the spool one segment at a time, queued between batches (also under load);
            # while the store is down, only probe when no batch is being written.
            drain_idle = self._drain is None or self._drain.done()
            probe_only = self._in_flight and pipeline.store_down
            if pipeline.spool.depth and drain_idle and not probe_only:
                self._drain = self._writer.submit(pipeline.drain_one)
            if now - self._last_stats >= self.stats_interval_s:
                self._last_stats = now
                self._writer.submit(self.write_stats)

    def _submit(self, sealed: Sealed | None) -> None:
        if sealed is not None:
            self._in_flight.append(self._writer.submit(self.pipeline.make_durable, sealed))
            self._in_flight_messages += len(sealed.messages)

    def _finish_durable(self, wait: bool = False) -> None:
        """Acknowledge the batches that became durable, in order (raises the writer's OSError)."""
        while self._in_flight and (wait or self._in_flight[0].done()):
            sealed = self._in_flight.popleft().result()
            self._in_flight_messages -= len(sealed.messages)
            self.pipeline.finish(sealed)

    def _shutdown(self) -> None:
        try:
            if not self._failed:
                self._submit(self.pipeline.seal())
                self._finish_durable(wait=True)
                self.consumer.flush_writes(1.0)  # let the last acks reach the broker
                self._writer.submit(self.write_stats).result()
        finally:
            self._writer.shutdown(wait=True, cancel_futures=True)
            self.consumer.disconnect()
            log.info("ingest: stopped; %d spool segments left", self.pipeline.spool.depth)

    def write_stats(self) -> None:
        """Write one `ingest_stats` point (writer thread; skipped while the store is down)."""
        point = self.metrics.stats_point(self.instance, time.time_ns(), self.pipeline.pending)
        if self.pipeline.store_down:
            return
        try:
            self.store.write([point])
        except StoreError as exc:
            log.debug("ingest_stats not written: %s", exc)


def run_ingest(
    settings: Settings,
    store: Store,
    *,
    metrics_port: int | None = None,
    stats_interval_s: float = 10.0,
) -> int:
    """Entry point for the CLI: run until SIGTERM/SIGINT. Exit code 0, or 2 when the broker
    refused the credentials, or 1 when the spool / dead-letter files cannot be written."""
    try:
        service = IngestService(
            settings, store, metrics_port=metrics_port, stats_interval_s=stats_interval_s
        )
        service.run()
    except MqttAuthError as exc:
        log.error("%s", exc)
        return 2
    except OSError as exc:
        log.error("ingest cannot keep data durable: %s", exc)
        return 1
    finally:
        store.close()
    return 0


__all__ = ["IngestService", "run_ingest"]
