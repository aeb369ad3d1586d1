"""A gateway that publishes a message stream from a thread at a steady rate, for fault tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from citytraffic.messaging import payloads


class Publishes(Protocol):
    def publish(self, message: payloads.Message) -> None: ...


class Producer:
    """Publishes `messages` through `publisher` at `rate_per_s` messages/s (0: as fast as the
    publisher takes them). `published` counts the messages handed to the publisher so far."""

    def __init__(
        self, publisher: Publishes, messages: Iterable[payloads.Message], rate_per_s: float = 0.0
    ) -> None:
        self.publisher = publisher
        self.messages = messages
        self.rate_per_s = rate_per_s
        self.published = 0
        self.done = threading.Event()
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="producer", daemon=True)

    def start(self) -> Producer:
        self._thread.start()
        return self

    def _run(self) -> None:
        started = time.monotonic()
        try:
            for i, message in enumerate(self.messages):
                if self._stop.is_set():
                    return
                self.publisher.publish(message)
                self.published = i + 1
                if self.rate_per_s > 0:
                    ahead_s = started + (i + 1) / self.rate_per_s - time.monotonic()
                    if ahead_s > 0:
                        time.sleep(ahead_s)
        except BaseException as exc:
            self.error = exc
        finally:
            self.done.set()

    def reached(self, messages: float) -> Callable[[], bool]:
        """A check for `wait_for`: `messages` published, or the stream is over."""
        return lambda: self.published >= messages or self.done.is_set()

    def join(self, timeout_s: float) -> None:
        """Wait for the end of the stream; re-raise the publishing thread's error."""
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise AssertionError(f"producer still publishing after {timeout_s:.0f} s")
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
