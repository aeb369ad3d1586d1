"""One contract suite for both Store adapters: SqliteStore (a file in tmp_path) and InfluxStore
(the session influxd, a fresh database per test). Every test asserts the same expected answers
for both, and `test_adapters_agree` compares them directly on a mixed data set."""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from citytraffic.storage.influx import InfluxStore
from citytraffic.storage.influx_process import InfluxServer
from citytraffic.storage.points import FieldValue, Point, Row, make_tags
from citytraffic.storage.port import Aggregate, Bucket, PointsRejected, Store
from citytraffic.storage.sqlite import SqliteStore

S = 1_000_000_000
B = 1_700_000_040 * S  # a multiple of 60 s since the epoch
M = "detector"


def _influx(server: InfluxServer) -> InfluxStore:
    return InfluxStore(server.url, f"contract_{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["sqlite", pytest.param("influx", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        sqlite = SqliteStore(tmp_path / "store.sqlite")
        yield sqlite
        sqlite.close()
    else:
        influx = _influx(request.getfixturevalue("influxd_session"))
        yield influx
        influx.query(f'DROP DATABASE "{influx.database}"')
        influx.close()


def pt(t_s: float, fields: dict[str, FieldValue], **tags: str) -> Point:
    return Point(M, make_tags(**tags), fields, B + int(t_s * S))


def test_write_and_read_back(store: Store) -> None:
    assert store.ping()
    fields: dict[str, FieldValue] = {
        "speed_kmh": 42.0,  # a whole float must stay a float
        "flow_vph": 1250.5,
        "count": 12,
        "big": 2**63 - 1,
        "stuck": False,
        "status": "ok",
    }
    store.write([pt(0, fields, site="s1", det="d1"), pt(1, {"speed_kmh": 7.25}, site="s2")])
    rows = store.range(M, B, B + 10 * S)
    assert rows == [
        Row({"det": "d1", "site": "s1"}, B, fields),
        Row({"site": "s2"}, B + S, {"speed_kmh": 7.25}),
    ]
    assert isinstance(rows[0].fields["speed_kmh"], float)
    assert isinstance(rows[0].fields["count"], int)
    assert rows[0].fields["stuck"] is False


def test_same_identity_merges_fields(store: Store) -> None:
    store.write([pt(5, {"speed_kmh": 30.0, "count": 4}, site="s1")])
    store.write([pt(5, {"speed_kmh": 35.5, "status": "late"}, site="s1")])  # redelivery
    store.write([pt(5, {"speed_kmh": 35.5, "status": "late"}, site="s1")])
    rows = store.range(M, B, B + 10 * S)
    assert rows == [
        Row({"site": "s1"}, B + 5 * S, {"speed_kmh": 35.5, "count": 4, "status": "late"})
    ]
    assert store.count(M, "speed_kmh", B, B + 10 * S) == 1


def test_range_bounds_tags_and_limit(store: Store) -> None:
    store.write([pt(t, {"v": float(t)}, site="a") for t in range(0, 50, 10)])
    store.write([pt(t, {"v": float(t)}, site="b") for t in range(5, 50, 10)])
    rows = store.range(M, B + 10 * S, B + 30 * S)  # [start, end)
    assert [(r.time_ns - B) // S for r in rows] == [10, 15, 20, 25]
    assert [r.tags["site"] for r in rows] == ["a", "b", "a", "b"]
    only_b = store.range(M, B, B + 100 * S, tags={"site": "b"})
    assert [r.fields["v"] for r in only_b] == [5.0, 15.0, 25.0, 35.0, 45.0]
    assert [r.fields["v"] for r in store.range(M, B, B + 100 * S, limit=3)] == [0.0, 5.0, 10.0]
    assert store.range(M, B, B + 100 * S, tags={"site": "nope"}) == []
    assert store.range("no_such_measurement", B, B + 100 * S) == []
    assert store.range(M, B + 30 * S, B + 30 * S) == []


def test_aggregate_buckets_align_to_epoch_and_skip_empty(store: Store) -> None:
    # Window 60 s; the query starts 25 s into a bucket. Aligned to the epoch the buckets are
    # B, B+60, B+180 (B+120 is empty and omitted); aligned to the query start they would
    # group 25/50/70 together.
    store.write(
        [
            pt(10, {"v": 100.0, "n": 100}, site="a"),  # before start: excluded
            pt(25, {"v": 1.0, "n": 1}, site="a"),
            pt(50, {"v": 3.0}, site="b"),
            pt(70, {"v": 5.0, "n": 2}, site="a"),
            pt(200, {"v": 7.0, "n": 3}, site="a"),
            pt(230, {"v": 9.0, "n": 4}, site="b"),
            pt(250, {"v": 1000.0, "n": 1000}, site="other"),  # filtered out by tag below
            pt(300, {"v": 100.0, "n": 100}, site="a"),  # at end: excluded
            pt(310, {"n": 5}, site="a"),  # only n, after the end
        ]
    )
    aggs: dict[str, Aggregate] = {"v": "mean", "n": "sum"}
    buckets = [
        store.aggregate(M, {"site": site}, aggs, B + 25 * S, B + 300 * S, 60) for site in ("a", "b")
    ]
    assert buckets[0] == [
        Bucket(B, {"mean_v": 1.0, "sum_n": 1.0}),
        Bucket(B + 60 * S, {"mean_v": 5.0, "sum_n": 2.0}),
        Bucket(B + 180 * S, {"mean_v": 7.0, "sum_n": 3.0}),
    ]
    assert buckets[1] == [
        Bucket(B, {"mean_v": 3.0, "sum_n": None}),  # no n in this bucket
        Bucket(B + 180 * S, {"mean_v": 9.0, "sum_n": 4.0}),
    ]
    both: dict[str, Aggregate] = {"v": "max"}
    everything = store.aggregate(M, {}, both, B + 25 * S, B + 300 * S, 60)
    assert [(b.start_ns - B) // S for b in everything] == [0, 60, 180, 240]
    assert [b.values["max_v"] for b in everything] == [3.0, 5.0, 9.0, 1000.0]


@pytest.mark.parametrize(
    ("agg", "expected"),
    [
        ("mean", [2.0, 6.0]),
        ("sum", [4.0, 12.0]),
        ("min", [1.0, 5.0]),
        ("max", [3.0, 7.0]),
        ("count", [2.0, 2.0]),
        ("last", [3.0, 7.0]),
    ],
)
def test_each_aggregate(store: Store, agg: Aggregate, expected: list[float]) -> None:
    store.write([pt(t, {"v": v}, site="a") for t, v in [(0, 1.0), (5, 3.0), (10, 5.0), (15, 7.0)]])
    store.write([pt(2, {"other": 1.0}, site="a")])  # no v: must not count
    buckets = store.aggregate(M, {"site": "a"}, {"v": agg}, B, B + 20 * S, 10)
    assert [b.start_ns for b in buckets] == [B, B + 10 * S]
    assert [b.values[f"{agg}_v"] for b in buckets] == pytest.approx(expected)


def test_latest_value_per_series(store: Store) -> None:
    store.write(
        [
            pt(0, {"v": 1.0}, site="a", det="1"),
            pt(10, {"v": 2.0, "n": 7}, site="a", det="1"),
            pt(5, {"v": 3.0}, site="a", det="2"),
            pt(20, {"v": 4.0}, site="b"),
            pt(-100, {"v": 9.0}, site="old"),  # nothing since `since`: no row
        ]
    )
    assert store.latest(M, B - 50 * S) == [
        Row({"det": "1", "site": "a"}, B + 10 * S, {"v": 2.0, "n": 7}),
        Row({"det": "2", "site": "a"}, B + 5 * S, {"v": 3.0}),
        Row({"site": "b"}, B + 20 * S, {"v": 4.0}),
    ]
    assert [r.tags for r in store.latest(M, B - 50 * S, {"site": "a", "det": "2"})] == [
        {"det": "2", "site": "a"}
    ]
    assert store.latest(M, B + 20 * S) == []  # strictly newer than since
    assert store.latest("no_such_measurement", 0) == []


def test_count(store: Store) -> None:
    store.write([pt(t, {"v": 1.0}, site="a") for t in range(10)])
    store.write([pt(t, {"v": 1.0, "w": 2}, site="b") for t in range(0, 10, 2)])
    assert store.count(M, "v", B, B + 10 * S) == 15
    assert store.count(M, "v", B + 2 * S, B + 4 * S) == 3
    assert store.count(M, "w", B, B + 10 * S) == 5
    assert store.count(M, "v", B, B + 10 * S, tags={"site": "b"}) == 5
    assert store.count(M, "nope", B, B + 10 * S) == 0
    assert store.count("no_such_measurement", "v", B, B + 10 * S) == 0


AWKWARD_TAGS = [
    "with space",
    "comma,inside",
    "equals=inside",
    'double"quote',
    "single'quote",
    "back\\slash",
    "back\\ slash space",
    "back\\,comma",
    "back\\=equals",
    "two\\\\backslashes",
    "\\leading backslash",
    "tab\tinside",
    " leading and trailing ",
    "ünïcödé ßtraße 東京",
    "emoji 🚦🚗",
    "looks like $param",
    "x' OR '1'='1",
    "#hash",
    "1234",
]
AWKWARD_STRINGS = ['say "hi"', "back\\slash", "ends with backslash\\", '\\"', "a,b=c d", "🚦"]


def test_awkward_tags_and_strings_roundtrip(store: Store) -> None:
    points = [
        Point("awk ward,meas=ure", make_tags(tag=value, **{"key with space": "k"}),
              {"s": AWKWARD_STRINGS[i % len(AWKWARD_STRINGS)], "i": i}, B + i * S)
        for i, value in enumerate(AWKWARD_TAGS)
    ]  # fmt: skip
    store.write(points)
    expected = [Row(dict(p.tags), p.time_ns, dict(p.fields)) for p in points]
    assert store.range("awk ward,meas=ure", B, B + 100 * S) == expected
    for point, row in zip(points, expected, strict=True):
        tags = dict(point.tags)
        assert store.latest("awk ward,meas=ure", 0, tags) == [row], tags  # bound parameters
        assert store.count("awk ward,meas=ure", "s", B, B + 100 * S, tags) == 1


def test_invalid_point_rejects_batch_before_writing(store: Store) -> None:
    good = pt(0, {"v": 1.0}, site="a")
    for bad in (pt(1, {"v": math.nan}, site="a"), pt(1, {"v": 1.0}, site="new\nline")):
        with pytest.raises(PointsRejected, match="point 1"):
            store.write([good, bad])
    assert store.range(M, B - S, B + 10 * S) == []


def test_field_type_conflict_is_a_partial_write(store: Store) -> None:
    store.write([pt(0, {"v": 1.5}, site="a")])
    with pytest.raises(PointsRejected, match="field type conflict"):
        store.write([pt(1, {"v": 2}, site="a"), pt(2, {"v": 2.5}, site="b")])
    rows = store.range(M, B, B + 10 * S)
    assert [(r.tags["site"], r.fields["v"]) for r in rows] == [("a", 1.5), ("b", 2.5)]


def _mixed_data(seed: int) -> list[Point]:
    rng = random.Random(seed)
    points = []
    for i in range(400):
        site, det = f"s{i % 5}", f"d{i % 3}"
        fields: dict[str, FieldValue] = {"speed_kmh": rng.randrange(0, 400) / 4}
        if i % 4:
            fields["count"] = rng.randrange(0, 50)
        if i % 7 == 0:
            fields["status"] = rng.choice(["ok", "stuck", 'quo"te'])
        t_ns = B + rng.randrange(-3600, 3600) * S + (i % 5) * 1000  # distinct per series
        points.append(Point(M, make_tags(site=site, det=det), fields, t_ns))
    return points


@pytest.mark.integration
def test_adapters_agree(influxd_session: InfluxServer, tmp_path: Path) -> None:
    influx, sqlite = _influx(influxd_session), SqliteStore(tmp_path / "agree.sqlite")
    try:
        points = _mixed_data(7)
        for st in (influx, sqlite):
            for i in range(0, len(points), 64):  # overlapping identities across batches
                st.write(points[i : i + 64])
            st.write(points[::9])
        lo, hi = B - 1800 * S, B + 2000 * S
        aggs: dict[str, Aggregate] = {"speed_kmh": "mean", "count": "sum"}
        assert len(sqlite.range(M, lo, hi)) > 150  # the comparisons below are not vacuous
        assert len(sqlite.latest(M, lo)) == 15
        assert len(sqlite.aggregate(M, {}, aggs, lo, hi, 60)) > 50
        for tags in ({}, {"site": "s1"}, {"site": "s2", "det": "d2"}):
            assert influx.range(M, lo, hi, tags) == sqlite.range(M, lo, hi, tags)
            assert influx.latest(M, lo, tags) == sqlite.latest(M, lo, tags)
            assert influx.count(M, "count", lo, hi, tags) == sqlite.count(M, "count", lo, hi, tags)
            for window_s in (60, 300, 7 * 86400):
                a = influx.aggregate(M, tags, aggs, lo, hi, window_s)
                b = sqlite.aggregate(M, tags, aggs, lo, hi, window_s)
                assert [x.start_ns for x in a] == [x.start_ns for x in b]
                for x, y in zip(a, b, strict=True):
                    assert x.values == pytest.approx(y.values)
        assert influx.range(M, lo, hi, limit=17) == sqlite.range(M, lo, hi, limit=17)
    finally:
        influx.close()
        sqlite.close()
