"""What the ingest tests look at afterwards: stored counts, the reconciliation, the files the
ingest leaves (spool segments, dead letters, quarantine records)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from citytraffic.storage.influx import InfluxStore
from ingest.loadgen import Reading, Reconciliation, Stream, reconcile

log = logging.getLogger(__name__)


def stored_count(store: InfluxStore, stream: Stream) -> int:
    """Detector points InfluxDB holds in the stream's time span."""
    return store.count("detector", "seq", stream.start_ns, stream.end_ns)


def stored_at_least(store: InfluxStore, stream: Stream, n: int) -> Callable[[], bool]:
    """A check for `wait_for`: InfluxDB holds at least n readings of the stream."""
    return lambda: stored_count(store, stream) >= n


def assert_reconciled(
    store: InfluxStore, sent: Iterable[Reading], start_ns: int, end_ns: int
) -> Reconciliation:
    """Every sent reading stored exactly once with its values; nothing else stored."""
    result = reconcile(store, sent, start_ns, end_ns)
    log.info("reconciliation: %s", result.summary())
    assert result.lost == 0, result.summary()
    assert result.duplicated == 0, result.summary()
    assert result.stored == result.sent, result.summary()
    return result


def ingest_files(workdir: Path) -> Path:
    """The ingest's data folder under an `ingest_env(workdir, ...)` environment."""
    return workdir / "data" / "ingest"


def spool_segments(workdir: Path) -> list[Path]:
    return sorted((ingest_files(workdir) / "spool").glob("seg-*"))


def jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def dead_letters(workdir: Path) -> list[dict[str, Any]]:
    return jsonl(ingest_files(workdir) / "dead_letters.jsonl")


def quarantined(workdir: Path) -> list[dict[str, Any]]:
    return jsonl(ingest_files(workdir) / "quarantine.jsonl")
