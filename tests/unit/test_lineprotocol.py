"""Line protocol encoding: escaping, field types, refusals, and a round-trip property against the
strict reference parser of tests/support/lineparser.py (the InfluxDB 1.x parser's rules)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.lineparser import parse_line

from citytraffic.storage.lineprotocol import (
    INT64_MAX,
    INT64_MIN,
    LineEncoder,
    LineProtocolError,
    encode_or_reject,
    escape_key,
    escape_measurement,
    format_field_value,
)
from citytraffic.storage.points import FieldValue, Point, Tags, make_tags
from citytraffic.storage.port import PointsRejected

# -- examples ---------------------------------------------------------------------------------


def test_plain_point() -> None:
    p = Point("detector", make_tags(site="s1", det="d1"), {"flow_vph": 1200.5, "n": 3}, 17)
    assert LineEncoder().line(p) == "detector,det=d1,site=s1 flow_vph=1200.5,n=3i 17"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1, "1i"),
        (-7, "-7i"),
        (INT64_MAX, f"{INT64_MAX}i"),
        (INT64_MIN, f"{INT64_MIN}i"),
        (1.5, "1.5"),
        (3.0, "3.0"),
        (1e16, "1e+16"),
        (True, "true"),
        (False, "false"),
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("ends\\", '"ends\\\\"'),
        ("a,b=c d", '"a,b=c d"'),
    ],
)
def test_field_values(value: FieldValue, text: str) -> None:
    assert format_field_value(value) == text


def test_escaping_of_names_and_tags() -> None:
    assert escape_measurement("a b,c=d") == "a\\ b\\,c=d"
    assert escape_key("a b,c=d") == "a\\ b\\,c\\=d"
    assert escape_key('with"quote"', "tag value") == 'with"quote"'
    # a backslash inside a tag is written as is (the 1.x parser does not unescape it)
    assert escape_key("a\\b", "tag value") == "a\\b"
    assert escape_key("a\\ b", "tag value") == "a\\\\ b"


def test_none_fields_are_left_out() -> None:
    p = Point("m", (), {"a": None, "b": 1}, 5)  # type: ignore[dict-item]
    assert LineEncoder().line(p) == "m b=1i 5"


def test_series_prefix_is_cached_and_encode_joins_lines() -> None:
    enc = LineEncoder()
    tags = make_tags(site="x y")
    body = enc.encode([Point("m", tags, {"v": 1.0}, 1), Point("m", tags, {"v": 2.0}, 2)])
    assert body == b"m,site=x\\ y v=1.0 1\nm,site=x\\ y v=2.0 2"
    assert enc.series_prefix("m", tags) is enc.series_prefix("m", tags)


@pytest.mark.parametrize(
    ("measurement", "tags", "fields", "time_ns"),
    [
        ("m", (("t", "a\nb"),), {"v": 1}, 1),
        ("m", (("t", "a\rb"),), {"v": 1}, 1),
        ("m", (("t", "a\x00b"),), {"v": 1}, 1),
        ("m\n", (), {"v": 1}, 1),
        ("m", (("t", "ends\\"),), {"v": 1}, 1),
        ("m", (("key\\", "v"),), {"v": 1}, 1),
        ("m", (("t", ""),), {"v": 1}, 1),
        ("m", (("", "v"),), {"v": 1}, 1),
        ("", (), {"v": 1}, 1),
        ("m", (), {"v": math.nan}, 1),
        ("m", (), {"v": math.inf}, 1),
        ("m", (), {"v": -math.inf}, 1),
        ("m", (), {"v": INT64_MAX + 1}, 1),
        ("m", (), {"v": INT64_MIN - 1}, 1),
        ("m", (), {"v": "line\nbreak"}, 1),
        ("m", (), {"v": "nul\x00"}, 1),
        ("m", (), {}, 1),
        ("m", (), {"v": None}, 1),
        ("m", (), {"v": 1}, INT64_MAX + 1),
        ("m", (), {"": 1}, 1),
        ("m", (), {"v": b"bytes"}, 1),
        # InfluxDB 1.6.7 quirks found against the real server:
        ("back\\slash", (), {"v": 1}, 1),  # measurement backslashes are mangled
        ("m", (), {"a\\b": 1}, 1),  # field key backslashes are mangled
        ("#comment", (), {"v": 1}, 1),  # the line would be skipped as a comment
        ("\tm", (), {"v": 1}, 1),  # leading tab trimmed
        ("m", (), {"\tf": 1}, 1),
        ("m", (("time", "x"),), {"v": 1}, 1),  # reserved key: refused / silently dropped
        ("m", (), {"time": 1}, 1),
    ],
)
def test_refusals(
    measurement: str, tags: Tags, fields: dict[str, FieldValue], time_ns: int
) -> None:
    with pytest.raises(LineProtocolError):
        LineEncoder().line(Point(measurement, tags, fields, time_ns))


def test_encode_or_reject_names_the_bad_point() -> None:
    good = Point("m", make_tags(t="a"), {"v": 1.0}, 1)
    bad = Point("m", make_tags(t="a"), {"v": math.nan}, 2)
    enc = LineEncoder()
    assert encode_or_reject(enc, [good]) == b"m,t=a v=1.0 1"
    with pytest.raises(PointsRejected, match="point 1"):
        encode_or_reject(enc, [good, bad])


def test_reference_parser_on_awkward_example() -> None:
    tags = make_tags(**{"k y": 'v,=" \\x', "z": "😀"})
    p = Point("m e,a", tags, {"s": 'q"\\', "f k": 2.5, "b": False, "i": -3}, 99)
    line = LineEncoder().line(p)
    assert parse_line(line) == ("m e,a", dict(tags), p.fields, 99)


# -- property ---------------------------------------------------------------------------------

_SPECIAL = st.sampled_from(list(" ,=\"\\'\t=é😀#"))
_TEXT = st.text(
    alphabet=st.one_of(_SPECIAL, st.characters(codec="utf-8")),
    min_size=1,
    max_size=20,
).filter(lambda s: not any(c in s for c in "\n\r\x00"))
_TAG_TEXT = _TEXT.filter(lambda s: not s.endswith("\\"))
_TAG_KEY = _TAG_TEXT.filter(lambda s: s != "time")
_STRING_FIELD = st.text(
    alphabet=st.one_of(_SPECIAL, st.characters(codec="utf-8")), max_size=30
).filter(lambda s: not any(c in s for c in "\n\r\x00"))


@settings(max_examples=300, deadline=None)
@given(
    tags=st.dictionaries(_TAG_KEY, _TAG_TEXT, max_size=4),
    strings=st.lists(_STRING_FIELD, min_size=1, max_size=3),
    number=st.floats(allow_nan=False, allow_infinity=False),
    integer=st.integers(INT64_MIN, INT64_MAX),
    time_ns=st.integers(INT64_MIN, INT64_MAX),
)
def test_roundtrip_through_reference_parser(
    tags: dict[str, str], strings: list[str], number: float, integer: int, time_ns: int
) -> None:
    fields: dict[str, FieldValue] = {f"s{i}": s for i, s in enumerate(strings)}
    fields |= {"x,y z=1": number, "n": integer, "ok": True}
    point = Point("meas ure,ment", tuple(sorted(tags.items())), fields, time_ns)
    body = LineEncoder().encode([point]).decode()
    assert len(body.split("\n")) == 1  # InfluxDB splits lines on \n only (not \x1e, \u2028)
    assert parse_line(body) == ("meas ure,ment", tags, fields, time_ns)
