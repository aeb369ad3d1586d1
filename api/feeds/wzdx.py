"""`/feeds/wzdx/devices.geojson`: a WZDx v4.2 DeviceFeed with TrafficSensor and TrafficSignal.

- One `traffic-sensor` per (site, link): the detectors of one site on one link form a station;
  `lane_data` has one entry per lane (`lane_order` = lane number, kerb side first) and the
  station totals are `volume_vph` (sum over lanes), `average_speed_kph` (flow-weighted) and
  `occupancy_percent` (lane mean, in percent). The collection interval is the newest reading's.
  A station that never reported carries a zero-length interval at `update_date` and no values.
- One `traffic-signal` per junction with signal data; `mode` from the latest stored signal state:
  all heads dark (`O`) -> blank, all flashing amber (`o`) -> flashing-yellow, otherwise the
  junction's local plan: `fixed*` -> pre-timed, `actuated*` -> fully-actuated, else unknown.
- `device_status`: ok; warning when readings are flagged or the detector health is suspect;
  error when a detector's health is bad or its data is stale; unknown without any data.
- Feature ids are UUIDs (v5) derived from the network name and the station, stable across runs.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import msgspec

from api.feeds.common import FeedContext, FeedInput, point_along, rounded, stable_uuid
from api.snapshot import DetectorCondition
from api.timefmt import NS, parse_rfc3339_ns, rfc3339
from citytraffic.domain.network import Detector

__all__ = ["LICENSE", "MEDIA_TYPE", "SIGNAL_MODES", "device_feed"]

MEDIA_TYPE = "application/geo+json"
LICENSE = "https://creativecommons.org/publicdomain/zero/1.0/"
SIGNAL_MODES = (
    "blank",
    "flashing-red",
    "flashing-yellow",
    "fully-actuated",
    "manual",
    "pre-timed",
    "semi-actuated",
    "unknown",
)
_encode = msgspec.json.Encoder().encode


def device_feed(inp: FeedInput, ctx: FeedContext) -> bytes:
    source_id = stable_uuid("source", ctx.publisher, inp.network.name)
    updated = rfc3339(inp.published_ns)
    features = _sensors(inp, source_id) + _signals(inp, source_id)
    source: dict[str, Any] = {
        "data_source_id": source_id,
        "organization_name": ctx.publisher,
        "update_date": updated,
        "update_frequency": ctx.update_frequency_s,
    }
    feed_info: dict[str, Any] = {
        "publisher": ctx.publisher,
        "version": "4.2",
        "license": LICENSE,
        "update_date": updated,
        "update_frequency": ctx.update_frequency_s,
        "data_sources": [source],
    }
    if ctx.contact_email:
        feed_info["contact_email"] = source["contact_email"] = ctx.contact_email
    return _encode({"feed_info": feed_info, "type": "FeatureCollection", "features": features})


def _core(
    device_type: str, source_id: str, status: str, updated: str, name: str, road: str
) -> dict[str, Any]:
    core: dict[str, Any] = {
        "device_type": device_type,
        "data_source_id": source_id,
        "device_status": status,
        "update_date": updated,
        "has_automatic_location": False,
        "name": name,
    }
    if road:
        core["road_names"] = [road]
    return core


def _sensors(inp: FeedInput, source_id: str) -> list[dict[str, Any]]:
    links = {ln.id: ln for ln in inp.network.links}
    readings = {r.detector: r for r in inp.readings}
    stations: dict[tuple[str, str], list[Detector]] = defaultdict(list)
    for d in inp.network.detectors:
        if d.link in links:
            stations[d.site, d.link].append(d)
    features = []
    for (site, link_id), dets in stations.items():
        link = links[link_id]
        dets.sort(key=lambda d: (d.lane, d.id))
        got = [(d, readings[d.id]) for d in dets if d.id in readings]
        status, messages = _sensor_status(inp, dets, [r for _, r in got])
        props: dict[str, Any] = {}
        newest = max(got, key=lambda pair: pair[1].ts)[1] if got else None
        end_ns = parse_rfc3339_ns(newest.ts) if newest is not None else None
        if newest is not None and newest.interval_s and end_ns is not None:
            props["collection_interval_start_date"] = rfc3339(end_ns - newest.interval_s * NS)
            props["collection_interval_end_date"] = newest.ts
            updated = newest.ts
        else:
            updated = rfc3339(inp.published_ns)
            props["collection_interval_start_date"] = updated
            props["collection_interval_end_date"] = updated
        lanes = [_lane(d, r) for d, r in got]
        props.update(_totals(lanes))
        props["lane_data"] = lanes
        core = _core("traffic-sensor", source_id, status, updated, f"{site} {link_id}", link.name)
        if messages:
            core["status_messages"] = messages
        lon, lat = point_along(link, dets[0].position_m)
        features.append(
            {
                "id": stable_uuid("sensor", inp.network.name, site, link_id),
                "type": "Feature",
                "properties": {"core_details": core, **props},
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
            }
        )
    return features


def _sensor_status(
    inp: FeedInput, dets: list[Detector], got: list[DetectorCondition]
) -> tuple[str, list[str]]:
    if not got:
        return "unknown", ["no reading in the live window"]
    messages = []
    health = [inp.health[d.id] for d in dets if d.id in inp.health]
    bad = [h for h in health if h.status == "bad"]
    stale = [r for r in got if r.age_s > inp.stale_after_s]
    for h in bad:
        messages.append(f"{h.detector}: {', '.join(h.flags)}")
    for r in stale:
        messages.append(f"{r.detector}: newest reading {r.age_s:.0f} s old")
    if bad or stale:
        return "error", messages
    flagged = [r for r in got if r.quality != "ok"]
    suspect = [h for h in health if h.status == "suspect"]
    messages += [f"{r.detector}: reading flagged {r.quality}" for r in flagged]
    messages += [f"{h.detector}: {', '.join(h.flags)}" for h in suspect]
    return ("warning" if messages else "ok"), messages


def _lane(d: Detector, r: DetectorCondition) -> dict[str, Any]:
    lane: dict[str, Any] = {"lane_order": d.lane}
    if r.speed_kmh is not None and r.speed_kmh >= 0:
        lane["average_speed_kph"] = round(r.speed_kmh, 1)
    if r.flow_vph is not None and r.flow_vph >= 0:
        lane["volume_vph"] = round(r.flow_vph, 1)
    if r.occupancy is not None and r.occupancy >= 0:
        lane["occupancy_percent"] = round(r.occupancy * 100.0, 2)
    return lane


def _totals(lanes: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    flows = [ln["volume_vph"] for ln in lanes if "volume_vph" in ln]
    if flows:
        out["volume_vph"] = round(sum(flows), 1)
    weighted = [
        (ln["average_speed_kph"], ln.get("volume_vph", 0.0))
        for ln in lanes
        if "average_speed_kph" in ln
    ]
    total_flow = sum(w for _, w in weighted)
    if weighted:
        speed = (
            sum(v * w for v, w in weighted) / total_flow
            if total_flow > 0
            else sum(v for v, _ in weighted) / len(weighted)
        )
        out["average_speed_kph"] = rounded(speed, 1)
    occ = [ln["occupancy_percent"] for ln in lanes if "occupancy_percent" in ln]
    if occ:
        out["occupancy_percent"] = round(sum(occ) / len(occ), 2)
    return out


def _signals(inp: FeedInput, source_id: str) -> list[dict[str, Any]]:
    sites = {s.id: s for s in inp.network.sites}
    features = []
    for j in inp.network.junctions:
        site = sites.get(j.site)
        if site is None or not j.signal_groups:
            continue
        row = inp.signals.get(j.site)
        local = j.local_plan.lower()
        mode = (
            "pre-timed"
            if local.startswith("fixed")
            else "fully-actuated"
            if local.startswith("actuated")
            else "unknown"
        )
        status, updated = "unknown", rfc3339(inp.published_ns)
        messages: list[str] = ["no signal state received"]
        if row is not None:
            updated, messages = rfc3339(row.time_ns), []
            age_s = (inp.now_ns - row.time_ns) / NS
            status = "ok" if age_s <= inp.stale_after_s else "error"
            if status == "error":
                messages.append(f"newest signal state {age_s:.0f} s old")
            state = row.state
            if state and set(state) <= {"O"}:
                mode = "blank"
            elif state and set(state) <= {"o"}:
                mode = "flashing-yellow"
        core = _core("traffic-signal", source_id, status, updated, site.name or site.id, "")
        if messages:
            core["status_messages"] = messages
        features.append(
            {
                "id": stable_uuid("signal", inp.network.name, j.site),
                "type": "Feature",
                "properties": {"core_details": core, "mode": mode},
                "geometry": {"type": "Point", "coordinates": [site.lon, site.lat]},
            }
        )
    return features
