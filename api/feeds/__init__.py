"""Public feeds: pure serialisers (GeoJSON road status, DATEX II v3 XML, NGSI-LD
TrafficFlowObserved, WZDx DeviceFeed) and the rendered-once bundle the routes serve."""

from api.feeds.bundle import FeedSet, NgsiFeed, RenderedFeed, build_feed_set, render
from api.feeds.common import FeedContext, FeedInput, SignalRow, StatusBands, traffic_status

__all__ = [
    "FeedContext",
    "FeedInput",
    "FeedSet",
    "NgsiFeed",
    "RenderedFeed",
    "SignalRow",
    "StatusBands",
    "build_feed_set",
    "render",
    "traffic_status",
]
