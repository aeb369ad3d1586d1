"""The vendored browser assets: which CDN URL folium 0.20 references maps to which local file.

Pure data (no I/O). The files live under `maps/static/vendor/` (VENDOR_DIR), one folder per
package and version, each with its licence; `maps/static/vendor/VENDOR.md` says where every
file came from and `SHA256SUMS` pins their content. `python -m maps.vendor_fetch` rebuilds the
folder from the npm registry (`npm pack`) and the installed folium package.

CDN_ASSETS covers folium's default scripts and style sheets (Map.default_js / default_css) and
the HeatMap plugin. Files referenced from inside the CSS (Leaflet's layer-control and marker
images, Font Awesome webfonts, glyphicon fonts, awesome-markers sprites) are listed in
CSS_REFERENCED_FILES so that every url() resolves.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Final

__all__ = [
    "CDN_ASSETS",
    "CSS_REFERENCED_FILES",
    "LICENSE_FILES",
    "VENDOR_DIR",
]

VENDOR_DIR: Final[Path] = Path(__file__).resolve().parent / "static" / "vendor"

_JSD = "https://cdn.jsdelivr.net"
_CDNJS = "https://cdnjs.cloudflare.com/ajax/libs"
_AWESOME = f"{_CDNJS}/Leaflet.awesome-markers/2.0.2"

CDN_ASSETS: Final = MappingProxyType(
    {
        # folium.Map.default_js
        f"{_JSD}/npm/leaflet@1.9.3/dist/leaflet.js": "leaflet-1.9.3/leaflet.js",
        "https://code.jquery.com/jquery-3.7.1.min.js": "jquery-3.7.1/jquery.min.js",
        f"{_CDNJS}/jquery/3.7.1/jquery.min.js": "jquery-3.7.1/jquery.min.js",
        f"{_JSD}/npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js": (
            "bootstrap-5.2.2/js/bootstrap.bundle.min.js"
        ),
        f"{_AWESOME}/leaflet.awesome-markers.js": (
            "leaflet.awesome-markers-2.0.2/leaflet.awesome-markers.js"
        ),
        # folium.Map.default_css
        f"{_JSD}/npm/leaflet@1.9.3/dist/leaflet.css": "leaflet-1.9.3/leaflet.css",
        f"{_JSD}/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css": (
            "bootstrap-5.2.2/css/bootstrap.min.css"
        ),
        "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css": (
            "bootstrap-glyphicons-3.4.1/css/bootstrap-glyphicons.css"
        ),
        f"{_JSD}/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css": (
            "fontawesome-free-6.2.0/css/all.min.css"
        ),
        f"{_AWESOME}/leaflet.awesome-markers.css": (
            "leaflet.awesome-markers-2.0.2/leaflet.awesome-markers.css"
        ),
        f"{_JSD}/gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css": (
            "folium-0.20.0/leaflet.awesome.rotate.min.css"
        ),
        # folium.plugins.HeatMap.default_js
        f"{_JSD}/gh/python-visualization/folium@main/folium/templates/leaflet_heat.min.js": (
            "folium-0.20.0/leaflet_heat.min.js"
        ),
    }
)
"""CDN URL as folium writes it -> path relative to VENDOR_DIR."""

CSS_REFERENCED_FILES: Final[tuple[str, ...]] = (
    "leaflet-1.9.3/images/layers.png",
    "leaflet-1.9.3/images/layers-2x.png",
    "leaflet-1.9.3/images/marker-icon.png",
    "leaflet-1.9.3/images/marker-icon-2x.png",
    "leaflet-1.9.3/images/marker-shadow.png",
    "leaflet.awesome-markers-2.0.2/images/markers-soft.png",
    "leaflet.awesome-markers-2.0.2/images/markers-soft@2x.png",
    "leaflet.awesome-markers-2.0.2/images/markers-shadow.png",
    "leaflet.awesome-markers-2.0.2/images/markers-shadow@2x.png",
    *(
        f"fontawesome-free-6.2.0/webfonts/fa-{font}.{ext}"
        for font in ("brands-400", "regular-400", "solid-900", "v4compatibility")
        for ext in ("woff2", "ttf")
    ),
    *(
        f"bootstrap-glyphicons-3.4.1/fonts/glyphicons-halflings-regular.{ext}"
        for ext in ("eot", "svg", "ttf", "woff", "woff2")
    ),
)
"""Files that the vendored style sheets load through url() (or Leaflet's default marker)."""

LICENSE_FILES: Final[tuple[str, ...]] = (
    "leaflet-1.9.3/LICENSE",
    "jquery-3.7.1/LICENSE.txt",
    "bootstrap-5.2.2/LICENSE",
    "bootstrap-glyphicons-3.4.1/LICENSE",
    "fontawesome-free-6.2.0/LICENSE.txt",
    "leaflet.awesome-markers-2.0.2/LICENSE",
    "folium-0.20.0/LICENSE.txt",
    "folium-0.20.0/LICENSE-leaflet.heat",
)
