"""Spool segments and dead-letter files."""

from __future__ import annotations

from pathlib import Path

import pytest

from citytraffic.storage.points import Point
from ingest.deadletter import JsonlLog, Rejected
from ingest.spool import Spool


def test_segments_drain_oldest_first_and_survive_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    a = spool.put_lines(["m a=1i 1", "m a=2i 2"])
    b = spool.put_points([Point("m", (("t", "x"),), {"a": 1.5}, 3)])
    assert spool.depth == 2 and spool.size_bytes == a.size_bytes + b.size_bytes
    (tmp_path / "seg-junk.tmp").write_bytes(b"half written")
    again = Spool(tmp_path)
    assert not list(tmp_path.glob("*.tmp"))
    first = again.oldest()
    assert first is not None and first.path == a.path
    assert Spool.read_lines(first) == ["m a=1i 1", "m a=2i 2"]
    again.remove(first)
    second = again.oldest()
    assert second is not None and Spool.read_points(second)[0].fields == {"a": 1.5}
    again.remove(second)
    assert again.depth == 0 and again.oldest() is None


def test_dead_letters_are_truncated_jsonl(tmp_path: Path) -> None:
    log = JsonlLog(tmp_path / "d" / "dead.jsonl", max_payload_bytes=10)
    log.append([Rejected("schema", "t/1", b"\xff" + b"x" * 50, "bad", 1_700_000_000 * 10**9)])
    log.append([])
    (rec,) = log.read()
    assert rec["reason"] == "schema" and rec["topic"] == "t/1" and rec["detail"] == "bad"
    assert rec["truncated"] is True and rec["payload_bytes"] == 51
    assert rec["payload"] == "\ufffdxxxxxxxxx"
    assert rec["time"] == "2023-11-14T22:13:20Z"


def test_an_unreadable_segment_is_set_aside_so_the_rest_can_drain(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    bad = spool.put_lines(["detector,site=S,detector=d speed_kmh=1.0 1"])
    bad.path.write_bytes(b"\xff\xfe not utf-8")
    good = spool.put_lines(["detector,site=S,detector=d speed_kmh=2.0 2"])
    with pytest.raises(ValueError):
        Spool.read_lines(bad)
    moved = spool.set_aside(bad)
    assert moved.parent.name == "bad" and moved.exists()
    assert spool.oldest() == good and spool.depth == 1
