"""Render a map to HTML: a standalone file (CLI `citytraffic map --out FILE`), the API's live
page (`/map`), or head/body/script parts for a dashboard that embeds the map in its own page.

Asset modes (`assets=`):
- "inline" (default): the vendored Leaflet (and leaflet.heat) are embedded in the file, so the
  exported file works offline with no server; only the base-map tiles (if any) need a network.
- "local": script/style URLs point at `base_url` (default /static/vendor) where the API serves
  maps/static/vendor (see maps.assets.asset_files).
- "cdn": folium's CDN URLs are left as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import folium
from branca.element import Figure

from citytraffic.domain.network import Network
from maps.assets import DEFAULT_BASE_URL, inline_assets, localize_assets
from maps.builder import build_live_map
from maps.geojson import Skipped
from maps.tiles import TileSource
from maps.views import CongestionHeat, DetectorHealthView, IncidentView, JunctionView, LinkView

__all__ = ["AssetMode", "MapParts", "export_live_map", "render_map_html", "render_map_parts"]

log = logging.getLogger(__name__)

AssetMode = Literal["inline", "local", "cdn"]
DEFAULT_TITLE = "citytraffic – live map"


@dataclass(frozen=True, slots=True)
class MapParts:
    """A rendered map split for embedding: `head` goes in <head>, `body` where the map should
    be (a div filling its container: give the container a height), `script` after it."""

    head: str
    body: str
    script: str


def _prepare(m: folium.Map, assets: AssetMode, base_url: str) -> None:
    if assets == "inline":
        unresolved = inline_assets(m)
    elif assets == "local":
        unresolved = localize_assets(m, base_url)
    elif assets == "cdn":
        unresolved = ()
    else:
        raise ValueError(f"assets must be 'inline', 'local' or 'cdn', not {assets!r}")
    for url in unresolved:
        log.warning("map asset %s has no vendored copy; the page still loads it from there", url)


def render_map_html(
    m: folium.Map,
    *,
    assets: AssetMode = "inline",
    base_url: str = DEFAULT_BASE_URL,
    title: str | None = DEFAULT_TITLE,
) -> str:
    """The complete HTML document of `m`. Call once per map object (assets are rewritten in
    place)."""
    _prepare(m, assets, base_url)
    root = m.get_root()
    assert isinstance(root, Figure)
    if title is not None:
        root.title = title
    html: str = root.render()
    return html


def render_map_parts(
    m: folium.Map, *, assets: AssetMode = "local", base_url: str = DEFAULT_BASE_URL
) -> MapParts:
    """`m` rendered as head / body / script fragments for embedding in another page."""
    _prepare(m, assets, base_url)
    root = m.get_root()
    assert isinstance(root, Figure)
    root.render()
    return MapParts(head=root.header.render(), body=root.html.render(), script=root.script.render())


def export_live_map(
    network: Network,
    links: Iterable[LinkView] = (),
    junctions: Iterable[JunctionView] = (),
    incidents: Iterable[IncidentView] = (),
    health: Iterable[DetectorHealthView] = (),
    heat: CongestionHeat | None = None,
    tiles: TileSource | str | None = "osm",
    *,
    tile_attribution: str | None = None,
    show_heat: bool = False,
    assets: AssetMode = "inline",
    base_url: str = DEFAULT_BASE_URL,
    title: str | None = DEFAULT_TITLE,
    skipped: Skipped | None = None,
) -> str:
    """build_live_map + render_map_html: the standalone HTML for `citytraffic map --out FILE`."""
    m = build_live_map(
        network,
        links,
        junctions,
        incidents,
        health,
        heat,
        tiles,
        tile_attribution=tile_attribution,
        show_heat=show_heat,
        skipped=skipped,
    )
    return render_map_html(m, assets=assets, base_url=base_url, title=title)
