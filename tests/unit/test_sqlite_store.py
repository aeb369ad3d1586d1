"""SqliteStore specifics not covered by the contract suite: persistence, WAL, several threads,
several processes, caches that must not go stale across connections."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from citytraffic.storage.points import Point, Row, make_tags
from citytraffic.storage.port import Aggregate, Bucket, PointsRejected
from citytraffic.storage.sqlite import SqliteStore

S = 1_000_000_000


def test_persists_across_reopen_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = SqliteStore(path)
    store.write([Point("m", make_tags(site="a"), {"v": 1.0, "ok": True}, 5)])
    store.close()
    assert not store.ping()
    again = SqliteStore(path)
    assert again.range("m", 0, 10) == [Row({"site": "a"}, 5, {"v": 1.0, "ok": True})]
    again.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_two_connections_share_schema_and_types(tmp_path: Path) -> None:
    a, b = SqliteStore(tmp_path / "s.sqlite"), SqliteStore(tmp_path / "s.sqlite")
    a.write([Point("m", make_tags(site="a"), {"v": 1.0}, 1)])
    assert b.range("m", 0, 10) == [Row({"site": "a"}, 1, {"v": 1.0})]  # b caches kinds of m
    a.write([Point("m", make_tags(site="a"), {"flag": True, "n": 3}, 2)])  # new fields via a
    assert b.range("m", 2, 3) == [Row({"site": "a"}, 2, {"flag": True, "n": 3})]
    with pytest.raises(PointsRejected, match="field type conflict"):
        b.write([Point("m", make_tags(site="a"), {"flag": 1}, 3)])  # b learns flag's type
    a.close()
    b.close()


def test_many_threads_one_store(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite")
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(20):
                store.write([Point("m", make_tags(t=str(k)), {"v": float(i)}, i * S)])
                store.latest("m", -1)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count("m", "v", 0, 100 * S) == 120
    assert [r.fields["v"] for r in store.latest("m", -1)] == [19.0] * 6
    store.close()


WRITER = """
import sys
from pathlib import Path
from citytraffic.storage.points import Point, make_tags
from citytraffic.storage.sqlite import SqliteStore
store = SqliteStore(Path(sys.argv[1]))
w = int(sys.argv[2])
for i in range(50):
    store.write([Point("m", make_tags(w=str(w), k=str(j)), {"v": float(i)}, i) for j in range(20)])
store.close()
"""


def test_several_processes_write_while_one_reads(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    reader = SqliteStore(path)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(w)]) for w in range(3)]
    counts = []
    while any(p.poll() is None for p in procs):
        counts.append(reader.count("m", "v", 0, 100))  # reads while the writers write
    assert [p.wait(60) for p in procs] == [0, 0, 0]
    assert reader.count("m", "v", 0, 100) == 3 * 50 * 20
    assert len(reader.latest("m", -1)) == 60
    assert all(c % 20 == 0 for c in counts)  # a batch is visible whole or not at all
    assert counts == sorted(counts)
    reader.close()


def test_buckets_before_the_epoch_are_floored(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite")
    store.write([Point("m", (), {"v": 1.0}, -90 * S), Point("m", (), {"v": 3.0}, -30 * S)])
    aggs: dict[str, Aggregate] = {"v": "sum"}
    assert store.aggregate("m", {}, aggs, -200 * S, 0, 60) == [
        Bucket(-120 * S, {"sum_v": 1.0}),
        Bucket(-60 * S, {"sum_v": 3.0}),
    ]
    with pytest.raises(ValueError):
        store.aggregate("m", {}, aggs, 0, 10, 0)
    with pytest.raises(ValueError):
        store.aggregate("m", {}, {"v": "median"}, 0, 10, 60)  # type: ignore[dict-item]
    store.close()


def test_missing_tag_filter_value_matches_series_without_the_tag(tmp_path: Path) -> None:
    # InfluxQL `"lane" = ''` matches series without a lane tag; SqliteStore does the same.
    store = SqliteStore(tmp_path / "s.sqlite")
    store.write(
        [
            Point("m", make_tags(site="a"), {"v": 1.0}, 1),
            Point("m", make_tags(site="a", lane="1"), {"v": 2.0}, 1),
        ]
    )
    assert [r.fields["v"] for r in store.range("m", 0, 10, tags={"lane": ""})] == [1.0]
    store.close()
