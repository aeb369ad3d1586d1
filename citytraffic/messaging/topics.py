"""The MQTT topic scheme (docs/mqtt.md). Version 1, all under `traffic/v1/`.

traffic/v1/site/<site>/detectors   batch: one message per site per interval (gateway -> centre)
traffic/v1/site/<site>/reading     one detector reading (gateway -> centre)
traffic/v1/site/<site>/signal      signal state change (gateway -> centre)
traffic/v1/site/<site>/plan        timing plan, retained (centre -> controller)
traffic/v1/gateway/<gw>/status     "online"/"offline", retained; "offline" is the last will
"""

from __future__ import annotations

from dataclasses import dataclass

from citytraffic.domain.network import ID_PATTERN

PREFIX = "traffic/v1"
KINDS_FROM_GATEWAY = ("detectors", "reading", "signal")

DETECTOR_FILTER = f"{PREFIX}/site/+/detectors"
READING_FILTER = f"{PREFIX}/site/+/reading"
SIGNAL_FILTER = f"{PREFIX}/site/+/signal"
STATUS_FILTER = f"{PREFIX}/gateway/+/status"
INGEST_FILTERS = (DETECTOR_FILTER, READING_FILTER, SIGNAL_FILTER, STATUS_FILTER)


class TopicError(ValueError):
    pass


def _checked_id(value: str, what: str) -> str:
    if not ID_PATTERN.match(value):
        raise TopicError(f"{what} {value!r} cannot be a topic level")
    return value


def site_topic(site: str, kind: str) -> str:
    if kind not in (*KINDS_FROM_GATEWAY, "plan"):
        raise TopicError(f"unknown site topic kind {kind!r}")
    return check_publish_topic(f"{PREFIX}/site/{_checked_id(site, 'site')}/{kind}")


def gateway_status_topic(gateway: str) -> str:
    return check_publish_topic(f"{PREFIX}/gateway/{_checked_id(gateway, 'gateway')}/status")


def check_publish_topic(topic: str) -> str:
    """A publish topic never holds wildcards, never starts with `$`, and is valid UTF-8 text."""
    try:
        size = len(topic.encode())
    except UnicodeEncodeError:
        raise TopicError("topic is not valid UTF-8 text") from None
    if not topic or size > 65535:
        raise TopicError("topic is empty or too long")
    if "+" in topic or "#" in topic or "\x00" in topic:
        raise TopicError(f"publish topic {topic!r} contains a wildcard or NUL")
    if topic.startswith("$"):
        raise TopicError(f"publish topic {topic!r} is reserved ($)")
    return topic


def shared(filter_: str, group: str | None) -> str:
    """`$share/<group>/<filter>` when a group is given: consumers in a group split the messages."""
    return f"$share/{group}/{filter_}" if group else filter_


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    kind: str  # detectors | reading | signal | status
    key: str  # site id, or gateway id for status


def parse_topic(topic: str) -> ParsedTopic | None:
    """Split an incoming topic; None when it is not one of ours."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != "traffic" or parts[1] != "v1":
        return None
    scope, key, kind = parts[2], parts[3], parts[4]
    if not ID_PATTERN.match(key):
        return None
    if scope == "site" and kind in KINDS_FROM_GATEWAY:
        return ParsedTopic(kind, key)
    if scope == "gateway" and kind == "status":
        return ParsedTopic(kind, key)
    return None
