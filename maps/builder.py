"""build_live_map: network + current conditions in, folium.Map out. Pure: no store, no files.

Layers (bottom to top): base tiles (optional), congestion heat (optional), links coloured by
level of service, junctions, detector health, incidents; then the legend, a layer control and a
fit to the network's bounds. Links, junctions, incidents and detectors are each ONE GeoJSON
layer managed by the page runtime (maps/layers.py), so 1,000 links stay one FeatureCollection
and a dashboard can recolour them in place; see docs/maps.md.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import folium
from folium.plugins import HeatMap

from citytraffic.domain.errors import NetworkError
from citytraffic.domain.network import Network
from maps.geojson import (
    Skipped,
    detector_features,
    incident_features,
    junction_features,
    link_features,
)
from maps.layers import LiveLayer, LiveLegend, LiveReady, LiveRuntime, legend_html
from maps.tiles import TileSource, tile_source
from maps.views import (
    CongestionHeat,
    DetectorHealthView,
    IncidentView,
    JunctionView,
    LinkView,
    finite_or_none,
    valid_lon_lat,
)

__all__ = ["LAYER_NAMES", "MINIMAL_ASSETS", "build_live_map", "use_minimal_assets"]

log = logging.getLogger(__name__)

LAYER_NAMES = {
    "links": "Traffic (level of service)",
    "junctions": "Junctions",
    "detectors": "Detector health",
    "incidents": "Incidents",
}
"""Runtime layer kind -> name shown in the layer control."""

MINIMAL_ASSETS = ("leaflet", "leaflet_css")
"""The only folium default assets the live map needs (its popups are Leaflet's own, not
folium.Popup, so jQuery, Bootstrap, Font Awesome and awesome-markers are not needed)."""


def use_minimal_assets(m: folium.Map) -> None:
    """Drop folium's default scripts/styles other than Leaflet from `m` (instance lists; the
    class-level defaults stay untouched). Keeps the page light and stops Bootstrap's global CSS
    from restyling a dashboard that embeds the map."""
    m.default_js = [(n, u) for n, u in m.default_js if n in MINIMAL_ASSETS]
    m.default_css = [(n, u) for n, u in m.default_css if n in MINIMAL_ASSETS]


def build_live_map(
    network: Network,
    links: Iterable[LinkView] = (),
    junctions: Iterable[JunctionView] = (),
    incidents: Iterable[IncidentView] = (),
    health: Iterable[DetectorHealthView] = (),
    heat: CongestionHeat | None = None,
    tiles: TileSource | str | None = "osm",
    *,
    tile_attribution: str | None = None,
    minimal_assets: bool = True,
    collapse_layer_control: bool = True,
    show_heat: bool = False,
    skipped: Skipped | None = None,
) -> folium.Map:
    """The operators' live map. `tiles`: "osm" (default), "none", a TileSource, or an XYZ URL
    template (with `tile_attribution`); raises ValueError only for a tiles value it cannot
    understand. Records naming unknown links/sites or with invalid positions are left out and
    listed in `skipped` (and logged at DEBUG). An empty network gives a world view map.
    `minimal_assets` keeps only Leaflet among folium's default assets (see use_minimal_assets);
    `collapse_layer_control` shows the layer control as an icon until hovered; the heat layer
    starts hidden (it hides the live colours) unless `show_heat`."""
    source = tile_source(tiles, tile_attribution)
    tally = skipped if skipped is not None else Skipped()
    try:
        min_lon, min_lat, max_lon, max_lat = network.bounds()
        bounds: list[list[float]] | None = [[min_lat, min_lon], [max_lat, max_lon]]
        center = [(min_lat + max_lat) / 2, (min_lon + max_lon) / 2]
        zoom = 14
    except NetworkError:
        bounds, center, zoom = None, [0.0, 0.0], 2

    m = folium.Map(location=center, zoom_start=zoom, tiles=None, control_scale=True)
    if minimal_assets:
        use_minimal_assets(m)
    if source is not None:
        folium.TileLayer(
            tiles=source.url_template,
            attr=source.attribution,
            name=source.name,
            max_zoom=source.max_zoom,
            overlay=False,
            control=True,
            subdomains=source.subdomains or "abc",
        ).add_to(m)

    runtime = LiveRuntime(basemap=source is not None)
    m.add_child(runtime)

    heat_layer = _heat_layer(heat, show_heat) if heat is not None else None
    if heat_layer is not None:
        heat_layer.add_to(m)

    collections = {
        "links": link_features(network, links, tally),
        "junctions": junction_features(network, junctions, tally),
        "detectors": detector_features(health, tally),
        "incidents": incident_features(incidents, tally),
    }
    for kind, data in collections.items():
        m.add_child(LiveLayer(runtime, kind, data, LAYER_NAMES[kind]))

    m.add_child(LiveLegend(runtime, legend_html()))
    if bounds is not None:
        m.fit_bounds(bounds, padding=(20, 20), max_zoom=18)
    folium.LayerControl(collapsed=collapse_layer_control, position="topright").add_to(m)
    m.add_child(LiveReady(runtime, heat_layer))

    for reason in tally.reasons:
        log.debug("live map: left out %s", reason)
    return m


def _heat_layer(heat: CongestionHeat, show: bool) -> HeatMap:
    points = [
        (p.lat, p.lon, w)
        for p in heat.points
        if valid_lon_lat(p.lon, p.lat) and (w := finite_or_none(p.weight)) is not None and w > 0
    ]
    top = max((w for _, _, w in points), default=0.0)
    data = [[round(lat, 6), round(lon, 6), round(w / top, 4)] for lat, lon, w in points]
    return HeatMap(  # type: ignore[no-untyped-call]
        data,
        name=heat.label,
        radius=18,
        blur=14,
        min_opacity=0.25,
        max_zoom=16,
        overlay=True,
        control=True,
        show=show,
    )
