"""What every simulator shares to publish: the publisher interface, closing all gateways within
one deadline, SIGTERM as a clean stop, and writing the network file."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from citytraffic.domain.network import Network
from citytraffic.messaging import payloads

log = logging.getLogger(__name__)


class Publisher(Protocol):
    def publish(self, message: payloads.Message) -> None: ...

    def flush(self, timeout_s: float = ...) -> bool: ...

    def close(self, timeout_s: float = ...) -> bool: ...


PublisherFactory = Callable[[str], Publisher]


def save_network_file(network: Network, path: Path) -> None:
    """Write the network file (kept behind one function so the file format stays elsewhere)."""
    from citytraffic.network_file import save_network

    save_network(network, path)


def close_all(publishers: dict[str, Publisher], timeout_s: float) -> bool:
    """Flush every gateway within one shared deadline, then close them (publishes `offline`)."""
    deadline = time.monotonic() + timeout_s
    ok = True
    for stage in ("flush", "close"):
        for gw_id, pub in publishers.items():
            left = max(0.1, deadline - time.monotonic())
            try:
                done = pub.flush(left) if stage == "flush" else pub.close(min(left, 5.0))
            except Exception as exc:
                log.warning("gateway %s: %s failed: %s", gw_id, stage, exc)
                done = False
            if not done:
                ok = False
                if stage == "close":
                    log.warning("gateway %s: not every message was acknowledged", gw_id)
    return ok


def stop_on_sigterm(stop: threading.Event) -> Callable[[], None]:
    """SIGTERM sets `stop` (a clean end: buffers flushed, `offline` published); main thread only."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore
