"""Folium map builders: data in, folium.Map out (no store access, no I/O), plus the vendored
browser assets that let the map work without internet. See docs/maps.md.

    build_live_map(network, links, junctions, incidents, health, heat=None, tiles="osm")
    render_map_html(m, assets="inline"|"local"|"cdn") / render_map_parts(m) / export_live_map(...)
    localize_assets(m, base_url) / inline_assets(m) / asset_files(base_url) / VENDOR_DIR
    link_updates(network, views) / junction_updates(...) / incident_features(...) / ...
        the same GeoJSON the page starts with, for live updates through the page runtime
"""

from maps.assets import (
    DEFAULT_BASE_URL,
    asset_files,
    inline_assets,
    localize_assets,
    page_asset_urls,
)
from maps.builder import LAYER_NAMES, build_live_map, use_minimal_assets
from maps.export import AssetMode, MapParts, export_live_map, render_map_html, render_map_parts
from maps.geojson import (
    Skipped,
    detector_features,
    detector_lon_lat,
    heat_points_along_links,
    incident_features,
    junction_features,
    junction_updates,
    link_features,
    link_updates,
)
from maps.tiles import NO_TILES, OSM_TILES, TileSource, tile_source
from maps.vendor import CDN_ASSETS, VENDOR_DIR
from maps.views import (
    HEALTH_COLORS,
    LOS_COLORS,
    UNKNOWN_COLOR,
    CongestionHeat,
    DetectorHealthView,
    HeatPoint,
    IncidentView,
    JunctionView,
    LinkView,
    los_color,
)

__all__ = [
    "CDN_ASSETS",
    "DEFAULT_BASE_URL",
    "HEALTH_COLORS",
    "LAYER_NAMES",
    "LOS_COLORS",
    "NO_TILES",
    "OSM_TILES",
    "UNKNOWN_COLOR",
    "VENDOR_DIR",
    "AssetMode",
    "CongestionHeat",
    "DetectorHealthView",
    "HeatPoint",
    "IncidentView",
    "JunctionView",
    "LinkView",
    "MapParts",
    "Skipped",
    "TileSource",
    "asset_files",
    "build_live_map",
    "detector_features",
    "detector_lon_lat",
    "export_live_map",
    "heat_points_along_links",
    "incident_features",
    "inline_assets",
    "junction_features",
    "junction_updates",
    "link_features",
    "link_updates",
    "localize_assets",
    "los_color",
    "page_asset_urls",
    "render_map_html",
    "render_map_parts",
    "tile_source",
    "use_minimal_assets",
]
