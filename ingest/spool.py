"""Local spool: batches that could not reach the store, kept durably until it answers again.

A batch is written to a segment file (`<name>.tmp`, write, fsync), renamed atomically to its
final name and the directory is fsync'd: only then may its MQTT messages be acknowledged.
Segments are named `seg-<time_ns>-<n>.<fmt>` so a directory listing sorted by name is the
oldest-first drain order. Formats: `lp` (line protocol text, for stores with `write_lines`) and
`mp` (msgpack list of Points, for any Store). A `.tmp` left by a crash was never acknowledged
(its messages will be redelivered) and is deleted at start-up. A drained segment is deleted
after the store accepted it; if the deletion is lost in a crash, draining it again is harmless
(same point identities).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec

from citytraffic.storage.points import Point
from ingest.deadletter import fsync_dir

log = logging.getLogger(__name__)

LINES = "lp"
POINTS = "mp"
_points_decoder = msgspec.msgpack.Decoder(list[Point])
_encoder = msgspec.msgpack.Encoder()


@dataclass(frozen=True, slots=True)
class Segment:
    path: Path
    fmt: str
    size_bytes: int


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._counter = 0
        for stale in directory.glob("*.tmp"):
            log.warning("spool: removing unfinished segment %s (never acknowledged)", stale)
            stale.unlink()
        self._segments = self._scan()

    def _scan(self) -> list[Segment]:
        segments = []
        for path in sorted(self.directory.glob("seg-*")):
            fmt = path.suffix.lstrip(".")
            if fmt in (LINES, POINTS):
                segments.append(Segment(path, fmt, path.stat().st_size))
        return segments

    @property
    def depth(self) -> int:
        """Segments waiting to be drained."""
        return len(self._segments)

    @property
    def size_bytes(self) -> int:
        return sum(s.size_bytes for s in self._segments)

    def put_lines(self, lines: list[str]) -> Segment:
        return self._put("\n".join(lines).encode(), LINES)

    def put_points(self, points: list[Point]) -> Segment:
        return self._put(_encoder.encode(points), POINTS)

    def _put(self, body: bytes, fmt: str) -> Segment:
        """Write durably; returns only when the segment survives a power cut."""
        self._counter += 1
        name = f"seg-{time.time_ns():020d}-{os.getpid()}-{self._counter:08d}.{fmt}"
        final = self.directory / name
        tmp = self.directory / f"{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(body)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        os.close(fd)
        tmp.rename(final)
        fsync_dir(self.directory)
        segment = Segment(final, fmt, len(body))
        self._segments.append(segment)
        return segment

    def oldest(self) -> Segment | None:
        return self._segments[0] if self._segments else None

    @staticmethod
    def read_lines(segment: Segment) -> list[str]:
        text = segment.path.read_bytes().decode()
        return text.split("\n") if text else []

    @staticmethod
    def read_points(segment: Segment) -> list[Point]:
        return _points_decoder.decode(segment.path.read_bytes())

    def set_aside(self, segment: Segment) -> Path:
        """Move an unreadable segment to `bad/` (kept for an operator) so the ones behind it
        drain; returns its new path."""
        bad = self.directory / "bad"
        bad.mkdir(exist_ok=True)
        target = bad / segment.path.name
        with contextlib.suppress(FileNotFoundError):
            segment.path.rename(target)
        fsync_dir(self.directory)
        self._segments.remove(segment)
        return target

    def remove(self, segment: Segment) -> None:
        """Forget a segment after the store accepted it."""
        with contextlib.suppress(FileNotFoundError):
            segment.path.unlink()
        self._segments.remove(segment)
