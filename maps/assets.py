"""Serve folium's scripts and style sheets from the vendored copies instead of CDNs.

    localize_assets(m, base_url="/static/vendor") -> unresolved URLs
        rewrite the CDN URLs of `m` and every plugin in it (HeatMap, ...) to base_url + path
    inline_assets(m) -> unresolved URLs
        put the vendored files' content into the page (CSS url()s become data: URIs)
    asset_files(base_url="/static/vendor") -> {url path: file}
        every vendored file, for the API to serve (or mount VENDOR_DIR as static files there)
    page_asset_urls(html) -> [url, ...]
        the script src and stylesheet href URLs of a rendered page

Both rewriting functions act on the elements present when called: call them on the finished
map, right before rendering (maps.export.render_map_html does). A URL with no vendored copy is
left as it is and returned, so the caller can log it; nothing raises.
"""

from __future__ import annotations

import base64
import mimetypes
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import folium
from branca.element import Element, Figure
from folium.elements import JSCSSMixin

from maps.vendor import CDN_ASSETS, CSS_REFERENCED_FILES, LICENSE_FILES, VENDOR_DIR

__all__ = [
    "DEFAULT_BASE_URL",
    "RawHtml",
    "asset_files",
    "inline_assets",
    "localize_assets",
    "page_asset_urls",
]

DEFAULT_BASE_URL = "/static/vendor"

_CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""")
_SCRIPT_SRC = re.compile(r"""<script\b[^>]*\bsrc\s*=\s*["']([^"']+)["']""", re.I)
_LINK_TAG = re.compile(r"<link\b[^>]*>", re.I)
_HREF = re.compile(r"""\bhref\s*=\s*["']([^"']+)["']""", re.I)
_MIME_FALLBACK = {".woff2": "font/woff2", ".woff": "font/woff", ".ttf": "font/ttf"}


class RawHtml(Element):
    """An Element whose text is emitted verbatim (not parsed as a Jinja template)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.html = html

    def render(self, **kwargs: object) -> str:
        return self.html


def _walk(element: Element) -> Iterator[Element]:
    yield element
    for child in list(element._children.values()):
        yield from _walk(child)


def _asset_elements(m: folium.Map) -> Iterator[JSCSSMixin]:
    return (e for e in _walk(m) if isinstance(e, JSCSSMixin))


def localize_assets(m: folium.Map, base_url: str = DEFAULT_BASE_URL) -> tuple[str, ...]:
    """Point every known CDN script/style URL of `m` at `base_url`. Returns the URLs that have
    no vendored copy (left unchanged)."""
    base = base_url.rstrip("/")
    unresolved: list[str] = []

    def local(url: str) -> str:
        rel = CDN_ASSETS.get(url)
        if rel is None:
            if url.startswith(("http://", "https://", "//")):
                unresolved.append(url)
            return url
        return f"{base}/{rel}"

    for element in _asset_elements(m):
        element.default_js = [(name, local(url)) for name, url in element.default_js]
        element.default_css = [(name, local(url)) for name, url in element.default_css]
    return tuple(dict.fromkeys(unresolved))


def inline_assets(m: folium.Map) -> tuple[str, ...]:
    """Embed the vendored scripts and style sheets in the page header (fonts and images the CSS
    loads become data: URIs), for a standalone file that works offline. Returns the URLs that
    have no vendored copy (left as links)."""
    figure = m.get_root()
    assert isinstance(figure, Figure)
    unresolved: list[str] = []
    for element in _asset_elements(m):
        element.default_js = _inline(figure, element.default_js, _script_tag, unresolved)
        element.default_css = _inline(figure, element.default_css, _style_tag, unresolved)
    return tuple(dict.fromkeys(unresolved))


def _inline(
    figure: Figure,
    links: list[tuple[str, str]],
    tag: Callable[[Path], str],
    unresolved: list[str],
) -> list[tuple[str, str]]:
    """Add the vendored content of `links` to the page header; return the links kept."""
    kept: list[tuple[str, str]] = []
    for name, url in links:
        rel = CDN_ASSETS.get(url)
        if rel is None:
            unresolved.append(url)
            kept.append((name, url))
        else:
            figure.header.add_child(RawHtml(tag(VENDOR_DIR / rel)), name=name)
    return kept


def _script_tag(path: Path) -> str:
    js = path.read_text(encoding="utf-8").replace("</script", "<\\/script")
    return f"<script>{js}</script>"


def _style_tag(path: Path) -> str:
    css = inline_css(path).replace("</style", "<\\/style")
    return f"<style>{css}</style>"


def inline_css(path: Path) -> str:
    """The style sheet at `path` with each relative url() that names an existing file replaced
    by a data: URI (absolute, data: and #fragment URLs are kept)."""
    css = path.read_text(encoding="utf-8")
    folder = path.parent

    def replace(match: re.Match[str]) -> str:
        target = match.group(2).strip()
        if target.startswith(("data:", "#", "http://", "https://", "//", "/")):
            return match.group(0)
        file = (folder / re.split(r"[?#]", target, maxsplit=1)[0]).resolve()
        if not file.is_file():
            return match.group(0)
        mime = _MIME_FALLBACK.get(file.suffix) or mimetypes.guess_type(file.name)[0]
        payload = base64.b64encode(file.read_bytes()).decode("ascii")
        return f'url("data:{mime or "application/octet-stream"};base64,{payload}")'

    return _CSS_URL.sub(replace, css)


def asset_files(base_url: str = DEFAULT_BASE_URL) -> dict[str, Path]:
    """URL path -> vendored file, for every script, style sheet, font, image and licence."""
    base = base_url.rstrip("/")
    rels = sorted({*CDN_ASSETS.values(), *CSS_REFERENCED_FILES, *LICENSE_FILES})
    return {f"{base}/{rel}": VENDOR_DIR / rel for rel in rels}


def page_asset_urls(html: str) -> list[str]:
    """Script src and stylesheet href URLs in a rendered page, in order of appearance."""
    found: list[tuple[int, str]] = [(m.start(), m.group(1)) for m in _SCRIPT_SRC.finditer(html)]
    for tag in _LINK_TAG.finditer(html):
        text = tag.group(0)
        href = _HREF.search(text)
        if href and re.search(r"""\brel\s*=\s*["']?stylesheet""", text, re.I):
            found.append((tag.start(), href.group(1)))
    return [url for _, url in sorted(found)]
