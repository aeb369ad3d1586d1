"""The base map: an online OpenStreetMap layer (default), none, or a local tile server.

    tile_source("osm")                                   -> OSM_TILES
    tile_source("none")                                  -> None (plain background)
    tile_source("http://tiles.local/{z}/{x}/{y}.png",
                attribution="© OpenStreetMap contributors") -> TileSource(...)

The network, markers and legend never depend on the base map, so a control room without
internet uses "none" or its own tile server; see docs/maps.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["NO_TILES", "OSM_TILES", "TileSource", "tile_source"]


@dataclass(frozen=True, slots=True)
class TileSource:
    """An XYZ raster tile source for Leaflet's L.tileLayer."""

    url_template: str
    attribution: str
    name: str = "Base map"
    max_zoom: int = 19
    subdomains: str | None = None


OSM_TILES: Final = TileSource(
    url_template="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
    attribution=(
        '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
    ),
    name="OpenStreetMap",
    max_zoom=19,
)

NO_TILES: Final = "none"

_PLACEHOLDERS = re.compile(r"\{[zxy]\}")
_DEFAULT_LOCAL_ATTRIBUTION = "Local tile server"


def tile_source(spec: str | TileSource | None, attribution: str | None = None) -> TileSource | None:
    """Resolve a tiles option. `spec` is "osm", "none" (also None or ""), a TileSource, or an XYZ
    URL template with {z}, {x} and {y} (http(s)://... or a path such as /tiles/{z}/{x}/{y}.png).
    Raises ValueError naming the accepted forms for anything else."""
    if isinstance(spec, TileSource):
        return spec
    if spec is None:
        return None
    text = spec.strip()
    if text.lower() in ("", NO_TILES):
        return None
    if text.lower() in ("osm", "openstreetmap"):
        return OSM_TILES
    if len(set(_PLACEHOLDERS.findall(text))) == 3 and (
        text.startswith(("http://", "https://", "/"))
    ):
        return TileSource(
            url_template=text,
            attribution=attribution or _DEFAULT_LOCAL_ATTRIBUTION,
            name="Local tiles",
        )
    raise ValueError(
        f"tiles {spec!r} not understood: use 'osm', 'none', or an XYZ URL template containing "
        "{z}, {x} and {y} (http://host/{z}/{x}/{y}.png or /tiles/{z}/{x}/{y}.png)"
    )
