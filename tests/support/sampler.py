"""Samples an ingest process's metrics from a thread (e.g. the alert gauges during an outage)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from ingest.process import IngestProcess


class MetricsSampler:
    """Every `period_s`, the sum of each metric in `names` (scrape failures are skipped)."""

    def __init__(self, ingest: IngestProcess, names: Sequence[str], period_s: float = 0.25) -> None:
        self.ingest = ingest
        self.names = list(names)
        self.period_s = period_s
        self.samples: list[tuple[float, dict[str, float]]] = []  # (monotonic time, values)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics-sampler", daemon=True)

    def start(self) -> MetricsSampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            try:
                metrics = self.ingest.metrics()
            except OSError:
                continue
            values = {
                name: sum(v for k, v in metrics.items() if k == name or k.startswith(name + "{"))
                for name in self.names
            }
            self.samples.append((time.monotonic(), values))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def between(self, start: float, end: float) -> list[dict[str, float]]:
        """Samples taken in [start, end] (monotonic times)."""
        return [v for t, v in self.samples if start <= t <= end]
