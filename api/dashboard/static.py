"""The files behind `GET /static/{path}`: maps' vendored Leaflet & co. (`/static/vendor/...`,
maps.asset_files) and the dashboard's own script and style files (`/static/dashboard/...`).

Only files in this table are served (no path is joined onto a directory, so `..` and the like
cannot reach anything else). Files are read once, with an ETag (content hash) and, for text, a
gzip copy. Vendored files never change under a versioned folder name and are cached by the
browser for a day; the dashboard's own files are revalidated (`no-cache` + ETag) and their URLs
carry `?v=<hash>` so a new release is fetched at once.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from maps import asset_files

__all__ = ["DASHBOARD_DIR", "DASHBOARD_FILES", "StaticFile", "asset_url", "static_file"]

DASHBOARD_DIR = Path(__file__).resolve().parent
DASHBOARD_FILES = ("dashboard.css", "stream.js", "chart.js", "panels.js", "dashboard.js")
"""The dashboard's own static files (in this package's folder)."""

PREFIX = "/static/"
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".eot": "application/vnd.ms-fontobject",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}
_TEXT = ("text/", "image/svg+xml")
VENDOR_CACHE = "public, max-age=86400"
OWN_CACHE = "no-cache"


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str
    cache_control: str


def media_type(path: Path) -> str:
    """Known web types by suffix; licence files (LICENSE, LICENSE-leaflet.heat) are text."""
    known = _TYPES.get(path.suffix.lower())
    if known is not None:
        return known
    if path.name.upper().startswith("LICENSE"):
        return "text/plain; charset=utf-8"
    guessed = mimetypes.guess_type(path.name)[0]
    return guessed or "application/octet-stream"


@functools.cache
def _table() -> dict[str, tuple[Path, str]]:
    """URL path below /static/ -> (file, Cache-Control)."""
    table = {
        url.removeprefix(PREFIX): (path, VENDOR_CACHE)
        for url, path in asset_files(PREFIX + "vendor").items()
    }
    for name in DASHBOARD_FILES:
        table[f"dashboard/{name}"] = (DASHBOARD_DIR / name, OWN_CACHE)
    return table


@functools.lru_cache(maxsize=128)
def _load(rel: str) -> StaticFile | None:
    entry = _table().get(rel)
    if entry is None:
        return None
    path, cache_control = entry
    try:
        body = path.read_bytes()
    except OSError:
        return None
    kind = media_type(path)
    gzipped = gzip.compress(body, 9, mtime=0) if kind.startswith(_TEXT) else None
    if gzipped is not None and len(gzipped) >= len(body):
        gzipped = None
    etag = '"' + hashlib.sha256(body).hexdigest()[:24] + '"'
    return StaticFile(body, gzipped, kind, etag, cache_control)


def static_file(rel: str) -> StaticFile | None:
    """The file served at /static/<rel>, or None when there is none."""
    if len(rel) > 300:
        return None
    return _load(rel)


def asset_url(name: str) -> str:
    """Versioned URL of one of the dashboard's own files (`?v=` + a content hash)."""
    found = static_file(f"dashboard/{name}")
    if found is None:
        raise KeyError(f"no dashboard file {name!r}")
    return f"{PREFIX}dashboard/{name}?v={found.etag.strip(chr(34))[:12]}"
