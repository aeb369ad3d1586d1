"""atheris fuzz target: one MQTT message through what the ingest runs on it.

topic parsing -> `payloads.decode` -> `LineBuilder` / `to_points` + `LineEncoder` -> the strict
reference parser, with the invariants of tests/support/hostile.py (the hypothesis tests use the
same oracle): nothing raises but the decoder's PayloadError and LineProtocolError for values the
protocol cannot carry; an accepted message is exactly the points the contract says.

    python fuzz/run.py --runs 20000          # bounded run with a generated seed corpus
    python fuzz/fuzz_ingest.py CORPUS_DIR    # open-ended libFuzzer run (any libFuzzer flag)

The first input byte picks the topic: the kind, on the topic the payload's own `site` /
`gateway` names (so mutated payloads get past the topic check), or arbitrary topic text.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris  # type: ignore[import-untyped]

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

with atheris.instrument_imports():
    import msgspec
    from support.hostile import check_payload

KINDS = ("detectors", "reading", "signal", "status")
NOW_NS = 1_900_000_000 * 10**9  # 2030: later source times are "future"


def topic_for(selector: int, payload: bytes) -> str:
    """The topic the payload names itself (its kind picked by `selector`)."""
    kind = KINDS[selector]
    key = "J1"
    try:
        doc = msgspec.json.decode(payload)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        doc = None
    if isinstance(doc, dict):
        named = doc.get("gateway" if kind == "status" else "site")
        if isinstance(named, str) and "/" not in named:
            key = named
    scope = "gateway" if kind == "status" else "site"
    return f"traffic/v1/{scope}/{key}/{kind}"


def test_one_input(data: bytes) -> None:
    """Byte 0 picks the topic: 0-3 the kind (topic named by the payload), 4 arbitrary topic
    text up to the first NUL; the rest is the payload."""
    if not data:
        return
    selector, rest = data[0] % (len(KINDS) + 1), data[1:]
    if selector == len(KINDS):
        raw_topic, _, payload = rest.partition(b"\x00")
        topic = raw_topic.decode("utf-8", errors="replace")
    else:
        payload = rest
        topic = topic_for(selector, payload)
    check_payload(topic, payload, NOW_NS)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
