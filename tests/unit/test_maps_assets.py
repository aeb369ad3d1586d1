"""Offline assets: every script and style sheet folium references is vendored (with licences),
localised or inlined, and every file a style sheet loads (fonts, images) exists."""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path

import folium
from folium.plugins import Fullscreen, HeatMap

from citytraffic.domain.network import Network
from citytraffic.network_file import load_network
from maps import (
    CDN_ASSETS,
    VENDOR_DIR,
    asset_files,
    build_live_map,
    localize_assets,
    page_asset_urls,
    render_map_html,
)
from maps.vendor import CSS_REFERENCED_FILES, LICENSE_FILES

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "network-small.geojson"
CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""")


def full_folium_map() -> folium.Map:
    """A map using folium's default assets and plugins: Icon markers (awesome-markers, Font
    Awesome, glyphicons), folium.Popup (jQuery), HeatMap (leaflet.heat)."""
    m = folium.Map(location=[45.76, 4.85], zoom_start=14, tiles=None)
    folium.Marker([45.76, 4.85], popup="hi", icon=folium.Icon(icon="info-sign")).add_to(m)
    folium.Marker([45.761, 4.85], icon=folium.Icon(prefix="fa", icon="car")).add_to(m)
    HeatMap([[45.76, 4.85, 1.0]]).add_to(m)  # type: ignore[no-untyped-call]
    return m


class ScriptTexts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._in_script = True
            self.texts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.texts[-1] += data

    @classmethod
    def of(cls, html: str) -> list[str]:
        parser = cls()
        parser.feed(html)
        return parser.texts


def small_network() -> Network:
    return load_network(EXAMPLE)


def external(urls: list[str]) -> list[str]:
    return [u for u in urls if u.startswith(("http://", "https://", "//"))]


def test_every_default_folium_asset_has_a_vendored_copy() -> None:
    referenced = [
        *folium.Map.default_js,
        *folium.Map.default_css,
        *HeatMap.default_js,
    ]
    for _, url in referenced:
        assert url in CDN_ASSETS, f"folium references {url} but nothing is vendored for it"
    for rel in {*CDN_ASSETS.values(), *CSS_REFERENCED_FILES, *LICENSE_FILES}:
        assert (VENDOR_DIR / rel).is_file(), rel


def test_vendored_files_match_their_checksums() -> None:
    sums = (VENDOR_DIR / "SHA256SUMS").read_text().splitlines()
    listed = set()
    for line in sums:
        digest, rel = line.split("  ", 1)
        listed.add(rel)
        assert hashlib.sha256((VENDOR_DIR / rel).read_bytes()).hexdigest() == digest, rel
    on_disk = {
        p.relative_to(VENDOR_DIR).as_posix()
        for p in VENDOR_DIR.rglob("*")
        if p.is_file() and p.name not in ("SHA256SUMS", "VENDOR.md")
    }
    assert listed == on_disk
    assert {*CDN_ASSETS.values(), *CSS_REFERENCED_FILES, *LICENSE_FILES} <= listed


def test_every_url_in_a_vendored_style_sheet_resolves() -> None:
    sheets = sorted({rel for rel in CDN_ASSETS.values() if rel.endswith(".css")})
    fonts_checked = 0
    for rel in sheets:
        css_path = VENDOR_DIR / rel
        for _, target in CSS_URL.findall(css_path.read_text(encoding="utf-8")):
            if target.startswith(("data:", "#")):
                continue
            assert not target.startswith(("http:", "https:", "//")), f"{rel} loads {target}"
            file = (css_path.parent / re.split(r"[?#]", target)[0]).resolve()
            assert file.is_file(), f"{rel}: url({target}) -> {file} is missing"
            assert file.is_relative_to(VENDOR_DIR)
            fonts_checked += file.suffix in (".woff2", ".woff", ".ttf", ".eot")
    assert fonts_checked >= 8 + 5  # Font Awesome webfonts and glyphicons


def check_local_page(html: str, base: str) -> None:
    urls = page_asset_urls(html)
    assert urls, "the page references no assets at all"
    assert external(urls) == []
    files = asset_files(base)
    for url in urls:
        assert url in files, url
        assert files[url].is_file()


def test_localize_assets_on_a_map_using_all_folium_defaults() -> None:
    m = full_folium_map()
    before = page_asset_urls(m.get_root().render())
    assert len(external(before)) >= 11
    assert localize_assets(m, "/static/vendor/") == ()
    html = m.get_root().render()
    check_local_page(html, "/static/vendor")
    assert len(page_asset_urls(html)) == len(before)
    # class-level defaults are untouched: other maps still get folium's URLs
    assert folium.Map.default_js[0][1].startswith("https://")


def test_live_map_served_locally_leaves_only_the_tile_url() -> None:
    m = build_live_map(small_network())
    html = render_map_html(m, assets="local", base_url="/assets/v1")
    check_local_page(html, "/assets/v1")
    assert page_asset_urls(html) == [
        "/assets/v1/leaflet-1.9.3/leaflet.js",
        "/assets/v1/leaflet-1.9.3/leaflet.css",
    ]
    remaining = set(re.findall(r"https?://[^\"'\s)\\]+", html))
    assert remaining == {
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",  # the configurable base map
        "https://www.openstreetmap.org/copyright",  # its attribution link
    }


def test_standalone_export_inlines_everything() -> None:
    heat_map = full_folium_map()
    html = render_map_html(heat_map, assets="inline")
    assert page_asset_urls(html) == []
    assert "L.AwesomeMarkers" in html and "L.heatLayer" in html
    # style sheet references became data: URIs, fonts included
    for target in (t for _, t in CSS_URL.findall(html)):
        assert target.startswith(("data:", "#")), target
    assert "data:font/woff2;base64," in html and "data:image/png;base64," in html
    # each vendored script survives whole inside one <script> element
    scripts = ScriptTexts.of(html)
    for rel in ("jquery-3.7.1/jquery.min.js", "leaflet-1.9.3/leaflet.js"):
        tail = (VENDOR_DIR / rel).read_text(encoding="utf-8").strip()[-60:]
        assert sum(tail in text for text in scripts) == 1, rel


def test_standalone_live_map_has_no_external_asset() -> None:
    html = render_map_html(build_live_map(small_network(), tiles="none"), assets="inline")
    assert page_asset_urls(html) == []
    assert "tile.openstreetmap.org" not in html
    assert "CityTraffic.attach(" in html and "window.L=" in html


def test_unknown_plugin_assets_are_reported_and_left_alone() -> None:
    m = full_folium_map()
    Fullscreen().add_to(m)  # type: ignore[no-untyped-call]
    unresolved = localize_assets(m)
    assert unresolved and all("fullscreen" in u.lower() for u in unresolved)
    html = m.get_root().render()
    assert set(external(page_asset_urls(html))) == set(unresolved)


def test_asset_files_cover_scripts_styles_fonts_and_licences() -> None:
    files = asset_files()
    assert all(url.startswith("/static/vendor/") for url in files)
    assert all(isinstance(p, Path) and p.is_file() for p in files.values())
    assert "/static/vendor/fontawesome-free-6.2.0/webfonts/fa-solid-900.woff2" in files
    assert "/static/vendor/leaflet-1.9.3/LICENSE" in files
    assert len(files) == len({*CDN_ASSETS.values(), *CSS_REFERENCED_FILES, *LICENSE_FILES})
