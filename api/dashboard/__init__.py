"""The operators' dashboard: static HTML/JS/CSS (no build step, no CDN) and the server side that
embeds the live folium map in it. Served by api/routes/dashboard.py; see docs/dashboard.md.

    mapdata.py   snapshot -> maps view records (links, junctions; incidents and detector
                 health for operators) and the body of /api/v1/dashboard/layers
    page.py      render_dashboard / render_map_page (map rendered with local assets), CSP
    static.py    the files served under /static/ (maps' vendored assets + the files below)
    index.html, map.html        page templates
    dashboard.js, panels.js, chart.js, dashboard.css   the page's own code (plain ES2017)
"""

from api.dashboard.mapdata import MapViews, layers_payload, map_views
from api.dashboard.page import (
    NONCE_MARK,
    DashboardConfig,
    PageContext,
    content_security_policy,
    render_dashboard,
    render_map_page,
    with_nonce,
)
from api.dashboard.static import DASHBOARD_FILES, StaticFile, asset_url, static_file

__all__ = [
    "DASHBOARD_FILES",
    "NONCE_MARK",
    "DashboardConfig",
    "MapViews",
    "PageContext",
    "StaticFile",
    "asset_url",
    "content_security_policy",
    "layers_payload",
    "map_views",
    "render_dashboard",
    "render_map_page",
    "static_file",
    "with_nonce",
]
