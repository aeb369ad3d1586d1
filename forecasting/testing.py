"""Test and demo data for the live forecaster: a small network and a synthetic detector history
(a daily pattern with a morning dip), on the 5-minute grid."""

from __future__ import annotations

import math

from citytraffic.domain.network import Detector, Link, Network, RoadClass, Site, SiteKind
from citytraffic.storage.points import FieldValue, Point, make_tags

STEP_S = 300
SECOND_NS = 1_000_000_000
DAY_S = 86_400
NOW_NS = 1_700_006_400 * SECOND_NS  # a whole number of 5-minute steps


def small_network() -> Network:
    """Two stations joined by link L1 (2 lanes) then L2 (1 lane)."""
    sites = (
        Site("S1", SiteKind.STATION, 0.0, 0.0),
        Site("S2", SiteKind.STATION, 0.01, 0.0),
        Site("S3", SiteKind.STATION, 0.02, 0.0),
    )
    links = (
        Link("L1", ((0.0, 0.0), (0.01, 0.0)), 2, 100.0, RoadClass.FREEWAY, "S1", "S2"),
        Link("L2", ((0.01, 0.0), (0.02, 0.0)), 1, 100.0, RoadClass.FREEWAY, "S2", "S3"),
    )
    detectors = (
        Detector("D1", "S2", "L1", 1, 900.0),
        Detector("D2", "S2", "L1", 2, 900.0),
        Detector("D3", "S3", "L2", 1, 900.0),
    )
    return Network(name="small", sites=sites, links=links, detectors=detectors)


def speed_kmh(t_s: int, k: int) -> float:
    """A daily pattern with a morning dip, a little different per detector."""
    hour = (t_s % DAY_S) / 3600
    return 95.0 - 40.0 * math.exp(-((hour - 8.0) ** 2) / 2.0) - 2.0 * k


def history(days: int = 2, end_ns: int = NOW_NS) -> list[Point]:
    """`days` of 5-minute readings of D1..D3 up to (not including) `end_ns`."""
    points = []
    start_s = end_ns // SECOND_NS - days * DAY_S
    for i in range(days * DAY_S // STEP_S):
        t_s = start_s + i * STEP_S
        for k, (det, site) in enumerate((("D1", "S2"), ("D2", "S2"), ("D3", "S3"))):
            v = speed_kmh(t_s, k)
            fields: dict[str, FieldValue] = {
                "speed_kmh": v,
                "count": int(20 + v / 5),
                "interval_s": STEP_S,
            }
            tags = make_tags(detector=det, site=site)
            points.append(Point("detector", tags, fields, t_s * SECOND_NS))
    return points
