"""A strict reference parser for InfluxDB line protocol (the 1.x dialect our encoder writes).

It follows the InfluxDB 1.x parser's rules: a delimiter is escaped when the character before it
is a backslash; the measurement unescapes `\\,` and `\\ `; tag keys, tag values and field keys
unescape `\\,`, `\\=` and `\\ ` (any other backslash stays as it is); string field values
unescape `\\"` and `\\\\`. It is stricter than the server wherever the server is lenient, so a
line it accepts means exactly one thing: anything unusual (an unescaped `=` in a tag value, an
empty key or value, a repeated tag or field key, a number the encoder would not write, text
after the timestamp, a newline) raises `LineSyntaxError`.
"""

from __future__ import annotations

import re

from citytraffic.storage.points import FieldValue

_INT = re.compile(r"-?[0-9]+i")
_FLOAT = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_STAMP = re.compile(r"-?[0-9]+")

ParsedLine = tuple[str, dict[str, str], dict[str, FieldValue], int]


class LineSyntaxError(ValueError):
    pass


def _scan(text: str, i: int, stops: str, forbidden: str = "") -> int:
    """Index of the first unescaped character of `stops` from i (len(text) if none); an
    unescaped character of `forbidden` before it is an error."""
    n = len(text)
    while i < n:
        ch = text[i]
        escaped = i > 0 and text[i - 1] == "\\"
        if not escaped and ch in stops:
            return i
        if not escaped and ch in forbidden:
            raise LineSyntaxError(f"unescaped {ch!r} at {i} in {text!r}")
        i += 1
    return n


def _unescape(text: str, chars: str) -> str:
    for ch in chars:
        text = text.replace("\\" + ch, ch)
    return text


def _string_end(text: str, i: int) -> int:
    """Index just past the closing quote of the string starting at text[i] == '"'."""
    i += 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return i + 1
        i += 1
    raise LineSyntaxError("unterminated string")


def _string_value(raw: str) -> str:
    out, i, body = [], 0, raw[1:-1]
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body) and body[i + 1] in '\\"':
            out.append(body[i + 1])
            i += 2
        else:
            if body[i] == '"':
                raise LineSyntaxError("unescaped quote inside a string")
            out.append(body[i])
            i += 1
    return "".join(out)


def _number_value(raw: str) -> FieldValue:
    if raw in ("true", "false"):
        return raw == "true"
    if _INT.fullmatch(raw):
        return int(raw[:-1])
    if _FLOAT.fullmatch(raw):
        return float(raw)
    raise LineSyntaxError(f"not a field value: {raw!r}")


def parse_line(line: str) -> ParsedLine:
    """(measurement, tags, fields, time_ns) of one line; LineSyntaxError when it is unusual."""
    if not line or any(c in line for c in "\n\r"):
        raise LineSyntaxError("empty line or a line break inside")
    if line.startswith("#"):
        raise LineSyntaxError("a comment line")
    end = _scan(line, 0, ", ")
    measurement = _unescape(line[:end], ", ")
    if not measurement:
        raise LineSyntaxError("empty measurement")
    i = end
    tags: dict[str, str] = {}
    while i < len(line) and line[i] == ",":
        key_end = _scan(line, i + 1, "=", forbidden=", ")
        value_end = _scan(line, key_end + 1, ", ", forbidden="=")
        if key_end >= len(line):
            raise LineSyntaxError("tag without '='")
        key = _unescape(line[i + 1 : key_end], ",= ")
        tag = _unescape(line[key_end + 1 : value_end], ",= ")
        if not key or not tag or key in tags:
            raise LineSyntaxError(f"empty or repeated tag {key!r}={tag!r}")
        tags[key] = tag
        i = value_end
    if i >= len(line) or line[i] != " ":
        raise LineSyntaxError("no field set")
    fields: dict[str, FieldValue] = {}
    sep = ","
    while sep == ",":
        key_end = _scan(line, i + 1, "=", forbidden=", ")
        if key_end >= len(line):
            raise LineSyntaxError("field without '='")
        key = _unescape(line[i + 1 : key_end], ",= ")
        start = key_end + 1
        if start < len(line) and line[start] == '"':
            value_end = _string_end(line, start)
            value: FieldValue = _string_value(line[start:value_end])
        else:
            value_end = _scan(line, start, ", ")
            value = _number_value(line[start:value_end])
        if not key or key in fields:
            raise LineSyntaxError(f"empty or repeated field key {key!r}")
        fields[key] = value
        sep = line[value_end] if value_end < len(line) else ""
        i = value_end
        if sep not in ("", ",", " "):
            raise LineSyntaxError(f"unexpected {sep!r} after field {key!r}")
    if sep != " " or not _STAMP.fullmatch(line[i + 1 :]):
        raise LineSyntaxError(f"no timestamp or text after it: {line[i:]!r}")
    return measurement, tags, fields, int(line[i + 1 :])


def parse_body(body: str) -> list[ParsedLine]:
    """Every line of a write body (lines joined by \\n, as our writers send them)."""
    return [parse_line(line) for line in body.split("\n")]
