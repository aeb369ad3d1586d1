"""Network + view records -> GeoJSON features (pure). Used for the first render of the map and,
unchanged, for live updates: the dashboard feeds `link_updates(...)` etc. to the page runtime's
`update(kind, features)`, so popups and tooltips are formatted in one place (here).

Every feature carries its key both as the GeoJSON `id` and as a property (`link_id`, `site`,
`incident_id`, `detector`). Coordinates are (lon, lat) as GeoJSON wants, rounded to 6 decimals
(about 0.1 m). Records that reference an unknown link/site or carry an invalid position are
skipped and counted in the returned `Skipped` tally; nothing raises on bad data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from citytraffic.domain.network import Link, Network, SiteKind
from citytraffic.network_file import point_along
from maps.views import (
    DetectorHealthView,
    HeatPoint,
    IncidentView,
    JunctionView,
    LinkView,
    finite_or_none,
    iso_utc,
    normalize_los,
    valid_lon_lat,
)

__all__ = [
    "Skipped",
    "detector_features",
    "detector_lon_lat",
    "heat_points_along_links",
    "incident_features",
    "junction_features",
    "junction_updates",
    "link_features",
    "link_updates",
]

Feature = dict[str, Any]
_DIGITS = 6


@dataclass(slots=True)
class Skipped:
    """Records left out, by reason (e.g. "unknown link 'L9'")."""

    reasons: list[str] = field(default_factory=list)

    def add(self, reason: str) -> None:
        self.reasons.append(reason)


def _point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [round(lon, _DIGITS), round(lat, _DIGITS)]}


def _collection(features: list[Feature]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def _card(title: str, rows: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Popup content: a title and (label, value) rows. The page runtime lays it out as a table
    and escapes every string, so values are plain text, never HTML."""
    return {"title": title, "rows": [[label, value] for label, value in rows]}


def format_age_s(age_s: float | None) -> str:
    age = finite_or_none(age_s)
    if age is None or age < 0:
        return "no data"
    if age < 120:
        return f"{age:.0f} s"
    if age < 7200:
        return f"{age / 60:.0f} min"
    return f"{age / 3600:.1f} h"


# --------------------------------------------------------------------------------------------
# links


def link_properties(link: Link, view: LinkView | None) -> dict[str, Any]:
    """Raw values only: the runtime styles the line from `los`/`congested`/`lanes` and builds the
    hover tooltip from them (kept out of the data because there are thousands of links)."""
    los = normalize_los(view.los) if view else None
    speed = finite_or_none(view.speed_kmh) if view else None
    props: dict[str, Any] = {
        "link_id": link.id,
        "los": los,
        "speed_kmh": None if speed is None else round(speed, 1),
        "congested": view.congested if view and isinstance(view.congested, bool) else None,
        "updated": iso_utc(view.updated) if view else None,
        "lanes": link.lanes,
    }
    if link.name:
        props["name"] = link.name
    return props


def _views_by_key(
    views: Iterable[Any], key: str, known: Mapping[str, object], what: str, skipped: Skipped
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for view in views:
        k = getattr(view, key)
        if k in known:
            out[k] = view
        else:
            skipped.add(f"unknown {what} {k!r}")
    return out


def link_features(
    network: Network, views: Iterable[LinkView], skipped: Skipped | None = None
) -> dict[str, Any]:
    """A FeatureCollection with one LineString per network link, in network order."""
    tally = skipped if skipped is not None else Skipped()
    by_id = _views_by_key(views, "link_id", {ln.id: ln for ln in network.links}, "link", tally)
    features = [
        {
            "type": "Feature",
            "id": link.id,
            "geometry": {
                "type": "LineString",
                "coordinates": [
                    [round(x, _DIGITS), round(y, _DIGITS)] for x, y in link.coordinates
                ],
            },
            "properties": link_properties(link, by_id.get(link.id)),
        }
        for link in network.links
    ]
    return _collection(features)


def link_updates(
    network: Network, views: Iterable[LinkView], skipped: Skipped | None = None
) -> list[Feature]:
    """Property updates for the page runtime: [{"id": link_id, "properties": {...}}]."""
    tally = skipped if skipped is not None else Skipped()
    links = {ln.id: ln for ln in network.links}
    by_id = _views_by_key(views, "link_id", links, "link", tally)
    return [{"id": k, "properties": link_properties(links[k], v)} for k, v in by_id.items()]


# --------------------------------------------------------------------------------------------
# junctions


def junction_properties(site_id: str, name: str, view: JunctionView | None) -> dict[str, Any]:
    phase = view.phase if view and view.phase else None
    age = finite_or_none(view.data_age_s) if view else None
    suggestion = view.pending_suggestion if view and view.pending_suggestion else None
    popup = _card(
        f"{site_id} {name}".strip(),
        (
            ("Phase", phase or "unknown"),
            ("Data age", format_age_s(age)),
            ("Pending suggestion", suggestion or "none"),
        ),
    )
    return {
        "site": site_id,
        "phase": phase,
        "data_age_s": None if age is None else round(age, 1),
        "pending_suggestion": suggestion,
        "pending": suggestion is not None,
        "popup": popup,
    }


def junction_features(
    network: Network, views: Iterable[JunctionView], skipped: Skipped | None = None
) -> dict[str, Any]:
    """One Point per junction site of the network (with or without a view)."""
    tally = skipped if skipped is not None else Skipped()
    sites = {s.id: s for s in network.sites if s.kind is SiteKind.JUNCTION}
    by_site = _views_by_key(views, "site", sites, "junction", tally)
    features = [
        {
            "type": "Feature",
            "id": s.id,
            "geometry": _point(s.lon, s.lat),
            "properties": junction_properties(s.id, s.name, by_site.get(s.id)),
        }
        for s in sites.values()
    ]
    return _collection(features)


def junction_updates(
    network: Network, views: Iterable[JunctionView], skipped: Skipped | None = None
) -> list[Feature]:
    tally = skipped if skipped is not None else Skipped()
    sites = {s.id: s for s in network.sites if s.kind is SiteKind.JUNCTION}
    by_site = _views_by_key(views, "site", sites, "junction", tally)
    return [
        {"id": k, "properties": junction_properties(k, sites[k].name, v)}
        for k, v in by_site.items()
    ]


# --------------------------------------------------------------------------------------------
# incidents and detector health


def incident_features(
    incidents: Iterable[IncidentView], skipped: Skipped | None = None
) -> dict[str, Any]:
    tally = skipped if skipped is not None else Skipped()
    features: list[Feature] = []
    for inc in incidents:
        if not valid_lon_lat(inc.lon, inc.lat):
            tally.add(f"incident {inc.id!r}: invalid position ({inc.lon}, {inc.lat})")
            continue
        confidence = finite_or_none(inc.confidence)
        start = iso_utc(inc.start)
        rows = [("State", inc.state)]
        if confidence is not None:
            rows.append(("Confidence", f"{confidence:.0%}"))
        rows.append(("Start", start or "unknown"))
        if inc.link:
            rows.append(("Link", inc.link))
        if inc.description:
            rows.append(("Note", inc.description))
        features.append(
            {
                "type": "Feature",
                "id": inc.id,
                "geometry": _point(inc.lon, inc.lat),
                "properties": {
                    "incident_id": inc.id,
                    "state": inc.state,
                    "confidence": confidence,
                    "start": start,
                    "link": inc.link,
                    "popup": _card(f"Incident {inc.id}", rows),
                },
            }
        )
    return _collection(features)


def detector_features(
    health: Iterable[DetectorHealthView], skipped: Skipped | None = None
) -> dict[str, Any]:
    tally = skipped if skipped is not None else Skipped()
    features: list[Feature] = []
    for h in health:
        if not valid_lon_lat(h.lon, h.lat):
            tally.add(f"detector {h.detector!r}: invalid position ({h.lon}, {h.lat})")
            continue
        features.append(
            {
                "type": "Feature",
                "id": h.detector,
                "geometry": _point(h.lon, h.lat),
                # raw values: the runtime builds the popup (there can be thousands of detectors)
                "properties": {
                    "detector": h.detector,
                    "status": h.status,
                    "reasons": [str(r) for r in h.reasons],
                },
            }
        )
    return _collection(features)


def detector_lon_lat(network: Network, detector_id: str) -> tuple[float, float] | None:
    """Where a detector sits: `position_m` along its link's geometry; None if unknown."""
    try:
        detector = network.detector(detector_id)
        link = network.link(detector.link)
    except KeyError:
        return None
    return point_along(link.coordinates, detector.position_m)


def heat_points_along_links(
    network: Network, weights: Mapping[str, float], spacing_m: float = 40.0
) -> tuple[HeatPoint, ...]:
    """Heat points every `spacing_m` along each link with a positive finite weight (e.g. the
    share of intervals the link was congested in the chosen time range), so the heat follows
    the road geometry. Unknown links and bad weights are ignored."""
    step = max(float(spacing_m), 1.0)
    points: list[HeatPoint] = []
    for link in network.links:
        weight = finite_or_none(weights.get(link.id))
        if weight is None or weight <= 0:
            continue
        n = max(1, int(link.length_m // step))
        for i in range(n + 1):
            lon, lat = point_along(link.coordinates, link.length_m * i / n)
            points.append(HeatPoint(lon=lon, lat=lat, weight=weight))
    return tuple(points)
