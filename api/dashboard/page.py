"""The dashboard (`/`) and live map (`/map`) pages: the folium live map rendered with local
assets, embedded in this package's HTML templates. Pure apart from reading the templates.

Every inline `<script>` gets the per-response CSP nonce: pages are rendered once per snapshot
(the expensive part, ~0.4 s for 1,000 links) with `NONCE_MARK` where the nonce goes, and
`with_nonce` puts a fresh one into each response.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import folium

from api.dashboard.mapdata import MapViews
from api.dashboard.static import asset_url
from citytraffic.domain.network import Network
from maps import TileSource, build_live_map, render_map_parts, tile_source
from maps.layers import js_json

__all__ = [
    "NONCE_MARK",
    "DashboardConfig",
    "PageContext",
    "boot_data",
    "build_map",
    "content_security_policy",
    "render_dashboard",
    "render_map_page",
    "with_nonce",
]

TEMPLATE_DIR = Path(__file__).resolve().parent
NONCE_MARK = "__CT_NONCE__"
_MARKER = re.compile(r"\{\{\s*([a-z_]+)(?::([A-Za-z0-9_.-]+))?\s*\}\}")
_SCRIPT_OPEN = re.compile(r"<script(?=[\s>])", re.IGNORECASE)
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


@dataclass(frozen=True, slots=True)
class DashboardConfig:
    """How the pages look: the base map (maps.tile_source: "osm", "none", or an XYZ template
    of a local tile server, with its attribution) and the page title."""

    tiles: str = "osm"
    tile_attribution: str | None = None
    title: str = "citytraffic – traffic operations"

    def tile_source(self) -> TileSource | None:
        """The configured base map; raises ValueError for a value maps.tile_source refuses."""
        return tile_source(self.tiles, self.tile_attribution)


@dataclass(frozen=True, slots=True)
class PageContext:
    """What the page script needs besides the map: who is looking and how fresh the data is."""

    operator: bool
    generated_at: str | None = None
    conditions_at: str | None = None


@functools.cache
def _template(name: str) -> str:
    return (TEMPLATE_DIR / name).read_text(encoding="utf-8")


def _fill(template: str, values: Mapping[str, str]) -> str:
    """Replace `{{ name }}` with values[name] and `{{ asset:file }}` with the versioned URL of
    a dashboard file, in one pass (inserted text is never scanned again)."""

    def sub(match: re.Match[str]) -> str:
        name, arg = match.group(1), match.group(2)
        if name == "asset" and arg is not None:
            return asset_url(arg)
        return values[name]

    return _MARKER.sub(sub, template)


def build_map(network: Network, views: MapViews, tiles: TileSource | None) -> folium.Map:
    return build_live_map(
        network, views.links, views.junctions, views.incidents, views.health, None, tiles
    )


def boot_data(network: Network, context: PageContext, *, max_links: int = 20_000) -> dict[str, Any]:
    """The JSON the page script starts from: links with their detectors (for the chart's link
    picker and history), the API routes it calls and whether the map holds operator layers."""
    detectors: dict[str, list[str]] = {}
    for d in network.detectors:
        detectors.setdefault(d.link, []).append(d.id)
    links = [
        [ln.id, ln.name, ln.free_flow_kmh, detectors.get(ln.id, [])]
        for ln in network.links[:max_links]
    ]
    return {
        "operator_layers": context.operator,
        "generated_at": context.generated_at,
        "conditions_at": context.conditions_at,
        "links_total": len(network.links),
        "links": links,
        "routes": {
            "stream": "/api/v1/stream",
            "login": "/auth/login",
            "logout": "/auth/logout",
            "whoami": "/auth/whoami",
            "layers": "/api/v1/dashboard/layers",
            "history": "/api/v1/history",
            "forecasts": "/api/v1/forecasts",
            "incidents": "/api/v1/incidents",
            "detector_health": "/api/v1/detectors/health",
            "metrics": "/metrics",
            "suggestions": "/api/v1/signals/suggestions",
        },
    }


def _nonced(html: str) -> str:
    return _SCRIPT_OPEN.sub(f'<script nonce="{NONCE_MARK}"', html)


def render_dashboard(
    network: Network, views: MapViews, config: DashboardConfig, context: PageContext
) -> str:
    """The dashboard page, with NONCE_MARK where the CSP nonce goes."""
    parts = render_map_parts(build_map(network, views, config.tile_source()), assets="local")
    return _fill(
        _template("index.html"),
        {
            "title": _escape(config.title),
            "nonce": NONCE_MARK,
            "map_head": _nonced(parts.head),
            "map_body": parts.body,
            "map_script": parts.script,
            "boot_json": js_json(boot_data(network, context)),
        },
    )


def render_map_page(network: Network, views: MapViews, config: DashboardConfig) -> str:
    """The full-window live map (`/map`), with NONCE_MARK where the CSP nonce goes."""
    parts = render_map_parts(build_map(network, views, config.tile_source()), assets="local")
    return _fill(
        _template("map.html"),
        {
            "title": _escape(config.title + " – live map"),
            "nonce": NONCE_MARK,
            "map_head": _nonced(parts.head),
            "map_body": parts.body,
            "map_script": parts.script,
        },
    )


def with_nonce(page: str, nonce: str) -> str:
    return page.replace(NONCE_MARK, nonce)


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _tile_origin(tiles: TileSource | None) -> str | None:
    """The CSP source of the tile images: scheme://host (`{s}` subdomains as `*`)."""
    if tiles is None:
        return None
    url = tiles.url_template
    if url.startswith("/"):
        return None  # served by this origin
    parts = urlsplit(url.replace("{s}", "tilesub"))
    if not parts.scheme or not parts.netloc:
        return None
    host = parts.netloc.replace("tilesub", "*")
    return f"{parts.scheme}://{host}"


def content_security_policy(nonce: str, tiles: TileSource | None, host: str | None) -> str:
    """Scripts only from this origin or with the nonce; images from here, data: URIs and the
    tile server; fetch/WebSocket only to this origin; no framing by other sites."""
    images = ["'self'", "data:"]
    origin = _tile_origin(tiles)
    if origin is not None:
        images.append(origin)
    connect = ["'self'"]
    if host is not None and _HOST.match(host):
        connect += [f"ws://{host}", f"wss://{host}"]
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            "style-src 'self' 'unsafe-inline'",
            "img-src " + " ".join(images),
            "font-src 'self' data:",
            "connect-src " + " ".join(connect),
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'self'",
        )
    )
