"""All feeds of one snapshot, rendered once: bytes, gzip bytes, ETag, Last-Modified.

`build_feed_set` runs in the snapshot refresh (a worker thread) only when the feed input changed
(see `FeedInput` fingerprint in api/live_view.py); requests pick bytes out of the current set.
The gzip variant is compressed once too, with its own ETag (`"<hash>-gz"`), so a CDN or a
browser can cache both representations.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from dataclasses import dataclass, field

import msgspec

from api.feeds.common import FeedContext, FeedInput
from api.feeds.datex2 import traffic_status_xml
from api.feeds.geojson import road_status_geojson
from api.feeds.ngsi import NgsiEntity, traffic_flow_entities
from api.feeds.wzdx import device_feed
from api.timefmt import NS, http_date

__all__ = ["FeedSet", "NgsiFeed", "RenderedFeed", "build_feed_set", "render"]

GEOJSON = "application/geo+json"
XML = "application/xml"
JSON = "application/json"
LD_JSON = "application/ld+json"


@dataclass(frozen=True, slots=True)
class RenderedFeed:
    body: bytes
    gzipped: bytes
    etag: str
    media_type: str
    last_modified_s: int
    last_modified: str  # the HTTP date of last_modified_s, formatted once

    @property
    def gzip_etag(self) -> str:
        return self.etag[:-1] + '-gz"'


def render(body: bytes, media_type: str, last_modified_ns: int) -> RenderedFeed:
    etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
    return RenderedFeed(
        body=body,
        gzipped=gzip.compress(body, compresslevel=6, mtime=0),
        etag=etag,
        media_type=media_type,
        last_modified_s=last_modified_ns // NS,
        last_modified=http_date(last_modified_ns // NS),
    )


@dataclass(slots=True)
class NgsiFeed:
    """TrafficFlowObserved entities: per-entity bytes and the full arrays, both forms."""

    entities: tuple[NgsiEntity, ...]
    last_modified_ns: int
    by_id: dict[str, NgsiEntity] = field(default_factory=dict)
    _cache: dict[tuple[bool, str | None], RenderedFeed] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.by_id = {e.id: e for e in self.entities}

    @staticmethod
    def _with_context(chunk: bytes, context: bytes | None) -> bytes:
        return chunk if context is None else b'{"@context":' + context + b"," + chunk[1:]

    def entity(self, entity_id: str, key_values: bool, context_url: str | None) -> bytes | None:
        e = self.by_id.get(entity_id)
        if e is None:
            return None
        return self._with_context(e.key_values if key_values else e.normalized, _ctx(context_url))

    def page(
        self, key_values: bool, offset: int, limit: int, context_url: str | None
    ) -> RenderedFeed:
        """Entities [offset, offset + limit) as a JSON array; `context_url` set: each entity
        carries its @context (application/ld+json). Whole arrays are cached per variant."""
        whole = offset == 0 and limit >= len(self.entities)
        cache_key = (key_values, context_url)
        if whole:
            with self._lock:
                hit = self._cache.get(cache_key)
            if hit is not None:
                return hit
        context = _ctx(context_url)
        chunks = [
            self._with_context(e.key_values if key_values else e.normalized, context)
            for e in self.entities[offset : offset + limit]
        ]
        rendered = render(
            b"[" + b",".join(chunks) + b"]",
            JSON if context_url is None else LD_JSON,
            self.last_modified_ns,
        )
        if whole:
            with self._lock:
                if len(self._cache) > 16:
                    self._cache.clear()
                self._cache[cache_key] = rendered
        return rendered


def _ctx(context_url: str | None) -> bytes | None:
    return None if context_url is None else msgspec.json.encode(context_url)


@dataclass(frozen=True, slots=True)
class FeedSet:
    road_status: RenderedFeed
    datex2: RenderedFeed
    wzdx: RenderedFeed
    ngsi: NgsiFeed


def build_feed_set(inp: FeedInput, ctx: FeedContext) -> FeedSet:
    published = inp.published_ns
    return FeedSet(
        road_status=render(road_status_geojson(inp), GEOJSON, published),
        datex2=render(traffic_status_xml(inp, ctx), XML, published),
        wzdx=render(device_feed(inp, ctx), GEOJSON, published),
        ngsi=NgsiFeed(tuple(traffic_flow_entities(inp)), published),
    )
