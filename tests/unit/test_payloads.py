"""Decoder edge cases that the JSON Schema contract test does not cover."""

import pytest

from citytraffic.domain.errors import PayloadError
from citytraffic.messaging import payloads

HEAD = b'{"schema":"traffic.reading/1","gateway":"g","seq":1,"site":"S",'
TAIL = b'"ts":"2026-01-01T00:00:00Z","interval_s":60,"detector":"d","speed_kmh":'


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        (b"NaN", "malformed_json"),
        (b"Infinity", "malformed_json"),
        (b"-Infinity", "malformed_json"),
        (b"1e999", "schema"),
    ],
)
def test_non_finite_numbers_never_decode(number: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as exc:
        payloads.decode(HEAD + TAIL + number + b"}", "reading", "S")
    assert exc.value.reason == reason


def test_a_detector_twice_in_one_batch_is_refused() -> None:
    batch = (
        b'{"schema":"traffic.detectors/1","gateway":"g","seq":1,"site":"S",'
        b'"ts":"2026-01-01T00:00:00Z","interval_s":60,'
        b'"readings":[{"detector":"d","count":1},{"detector":"d","count":2}]}'
    )
    with pytest.raises(PayloadError, match="twice"):
        payloads.decode(batch, "detectors", "S")


def test_payload_must_match_its_topic() -> None:
    good = HEAD + TAIL + b"50.0}"
    assert payloads.decode(good, "reading", "S").speed_kmh == 50.0  # type: ignore[union-attr]
    with pytest.raises(PayloadError) as exc:
        payloads.decode(good, "reading", "OTHER")
    assert exc.value.reason == "topic_mismatch"
    with pytest.raises(PayloadError) as exc:
        payloads.decode(good, "detectors", "S")
    assert exc.value.reason == "wrong_topic"


def test_oversized_payload_is_refused_before_parsing() -> None:
    with pytest.raises(PayloadError) as exc:
        payloads.decode(b" " * (payloads.MAX_PAYLOAD_BYTES + 1), "reading", "S")
    assert exc.value.reason == "oversized"
