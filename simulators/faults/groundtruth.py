"""The ground-truth file: one JSON line per fault actually injected (docs/simulators.md).

Each record names the fault (`fault` type and `fault_id` = `f<position in the spec>`), where it
hit (`gateway`, `site`, `detector`; null when the fault is not that specific), the source-time
window it affected (`start`, `end`: the measurement interval of the reading or message, the dead
period of a gateway), the sequence numbers of the messages concerned (`seq`), the fault's
parameters (`params`) and what was done (`detail`, e.g. original and sent values), plus the wall
time of the injection (`injected_at`). Lines are flushed as they are written, so a crashed run
still leaves the faults it injected.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import msgspec


class FaultRecord(msgspec.Struct, kw_only=True, frozen=True):
    fault: str
    fault_id: str
    gateway: str
    site: str | None = None
    detector: str | None = None
    start: datetime
    end: datetime | None = None
    seq: list[int] = msgspec.field(default_factory=list)
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    detail: dict[str, Any] = msgspec.field(default_factory=dict)
    injected_at: datetime | None = None


class FaultWindow(msgspec.Struct, kw_only=True, frozen=True):
    """All records of one fault at one place, merged (what a detection should find)."""

    fault: str
    fault_id: str
    gateway: str
    site: str | None
    detector: str | None
    start: datetime
    end: datetime | None
    seq: list[int]
    events: int


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(FaultRecord)


class GroundTruthLog:
    """Appends records to a JSONL file (or only counts and keeps them when `path` is None)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.written = 0
        self.fault_ids: set[str] = set()  # faults that were injected at least once
        self.records: list[FaultRecord] = []  # kept only without a file
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("ab")

    def append(self, record: FaultRecord) -> None:
        line = _encoder.encode(record) + b"\n"
        with self._lock:
            self.written += 1
            self.fault_ids.add(record.fault_id)
            if self._file is None:
                self.records.append(record)
                return
            self._file.write(line)
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_ground_truth(path: Path) -> list[FaultRecord]:
    """Every record of a ground-truth file (raises msgspec.DecodeError on a corrupt line)."""
    with path.open("rb") as f:
        return [_decoder.decode(line) for line in f if line.strip()]


def summarize(records: Iterable[FaultRecord]) -> list[FaultWindow]:
    """Merge records per (fault_id, gateway, site, detector): first start, last end, all seqs."""
    groups: dict[tuple[str, str, str | None, str | None], list[FaultRecord]] = {}
    for r in records:
        groups.setdefault((r.fault_id, r.gateway, r.site, r.detector), []).append(r)
    out: list[FaultWindow] = []
    for (fault_id, gateway, site, detector), rs in groups.items():
        ends = [r.end for r in rs]
        out.append(
            FaultWindow(
                fault=rs[0].fault,
                fault_id=fault_id,
                gateway=gateway,
                site=site,
                detector=detector,
                start=min(r.start for r in rs),
                end=None if any(e is None for e in ends) else max(e for e in ends if e),
                seq=sorted({s for r in rs for s in r.seq}),
                events=len(rs),
            )
        )
    out.sort(key=lambda w: (w.fault_id, w.gateway, w.site or "", w.detector or ""))
    return out
