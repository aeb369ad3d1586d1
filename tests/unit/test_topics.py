import pytest

from citytraffic.messaging import topics


def test_site_topics_and_parse_roundtrip() -> None:
    t = topics.site_topic("J-1.2", "detectors")
    assert t == "traffic/v1/site/J-1.2/detectors"
    assert topics.parse_topic(t) == topics.ParsedTopic("detectors", "J-1.2")
    s = topics.gateway_status_topic("gw7")
    assert topics.parse_topic(s) == topics.ParsedTopic("status", "gw7")


@pytest.mark.parametrize("bad", ["a/b", "+", "#", "x y", "$SYS", "", "a" * 65])
def test_ids_that_cannot_be_topic_levels_are_refused(bad: str) -> None:
    with pytest.raises(topics.TopicError):
        topics.site_topic(bad, "detectors")


@pytest.mark.parametrize("topic", ["a/+/b", "a/#", "$SYS/broker/load", "", "a\x00b"])
def test_publish_topics_never_hold_wildcards_or_dollar(topic: str) -> None:
    with pytest.raises(topics.TopicError):
        topics.check_publish_topic(topic)


@pytest.mark.parametrize(
    "topic",
    [
        "traffic/v2/site/J1/detectors",
        "traffic/v1/site/J1/plan",
        "traffic/v1/site/+/detectors",
        "traffic/v1/site/J1/detectors/extra",
        "$SYS/broker/uptime",
        "traffic/v1/gateway/gw1/detectors",
    ],
)
def test_foreign_topics_are_not_parsed(topic: str) -> None:
    assert topics.parse_topic(topic) is None


def test_shared_subscription() -> None:
    assert topics.shared(topics.DETECTOR_FILTER, "ingest") == (
        "$share/ingest/traffic/v1/site/+/detectors"
    )
    assert topics.shared(topics.DETECTOR_FILTER, None) == topics.DETECTOR_FILTER
