"""Dead letters and quarantine: append-only JSONL files, fsync'd before the MQTT ack.

One JSON object per line: `time` (receive time, RFC 3339 UTC), `reason` (short code, e.g.
`schema`, `malformed_json`, `topic_mismatch`, `unknown_topic`, `rejected_by_store`, `future`),
`detail`, `topic`, `payload` (UTF-8 text, invalid bytes replaced, truncated to
`max_payload_bytes`), `payload_bytes` (original size) and `truncated`. A message recorded here
is acknowledged: it never comes back, and it never holds back the good readings around it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_MAX_PAYLOAD_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str
    topic: str
    payload: bytes
    detail: str = ""
    receive_ns: int = 0


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class JsonlLog:
    """An fsync'd JSONL file of rejected messages (dead letters or quarantine)."""

    def __init__(self, path: Path, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> None:
        self.path = path
        self.max_payload_bytes = max_payload_bytes
        self.written = 0

    def record(self, rejected: Rejected) -> dict[str, object]:
        payload = rejected.payload
        ns = rejected.receive_ns or time.time_ns()
        return {
            "time": datetime.fromtimestamp(ns / 1e9, UTC).isoformat().replace("+00:00", "Z"),
            "reason": rejected.reason,
            "detail": rejected.detail[:1000],
            "topic": rejected.topic[:1000],
            "payload": payload[: self.max_payload_bytes].decode("utf-8", errors="replace"),
            "payload_bytes": len(payload),
            "truncated": len(payload) > self.max_payload_bytes,
        }

    def append(self, records: Sequence[Rejected]) -> None:
        """Append and fsync; raises OSError (then nothing may be acknowledged)."""
        if not records:
            return
        text = "".join(
            json.dumps(self.record(r), ensure_ascii=False, separators=(",", ":")) + "\n"
            for r in records
        )
        new = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if new:
            fsync_dir(self.path.parent)
        self.written += len(records)

    def read(self) -> list[dict[str, object]]:
        """All records (tests, tooling)."""
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
