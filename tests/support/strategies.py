"""Hypothesis strategies for hostile line-protocol input: awkward text (delimiters, quotes,
backslashes, line breaks, NUL, unicode separators, `time`) that is writable nine times in ten
and anything at all otherwise, so the properties see both refusals and exact round trips."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from citytraffic.storage.lineprotocol import INT64_MAX, INT64_MIN
from citytraffic.storage.points import FieldValue

SPECIAL = [*"\n\r\t ,=\"'\\#\x00\x1e\u2028\u0085é😀", "\\ ", "\\,", "\\=", '\\"', "\\\\", "time"]
# UTF-8 encodable text (as anything decoded from JSON or HTTP is); lone surrogates have their own
# test (test_hostile_lineprotocol.py)
text = st.lists(st.one_of(st.sampled_from(SPECIAL), st.characters(codec="utf-8")), max_size=12).map(
    "".join
)
_NO_BREAKS = str.maketrans("", "", "\n\r\x00")


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good` (awkward but writable) nine times in ten, anything at all otherwise."""
    return st.integers(0, 9).flatmap(lambda i: bad if i == 0 else good)


def _tag(s: str) -> str:
    """Awkward yet writable tag text: no line break or NUL, not ending in a backslash."""
    s = s.translate(_NO_BREAKS).rstrip("\\")
    return s if s and s != "time" else "t" + s


def _name(s: str) -> str:
    """Awkward yet writable measurement / field key: no backslash either, no leading tab / #."""
    s = _tag(s).replace("\\", "").lstrip("\t#")
    return s if s and s != "time" else "n" + s


finite = st.floats(allow_nan=False, allow_infinity=False)
tags_text = mostly(text.map(_tag), text)
names = mostly(text.map(_name), text)
writable_text = mostly(text.map(lambda s: s.translate(_NO_BREAKS)), text)
values: st.SearchStrategy[FieldValue] = st.one_of(
    writable_text,
    st.booleans(),
    mostly(st.integers(INT64_MIN, INT64_MAX), st.integers(INT64_MIN - 2, INT64_MAX + 2)),
    mostly(finite, st.floats()),
)
times = mostly(st.integers(INT64_MIN, INT64_MAX), st.integers(INT64_MIN - 2, INT64_MAX + 2))
