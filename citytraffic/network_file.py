"""The network file: a GeoJSON FeatureCollection with a `citytraffic` member (docs/network-file.md).

    load_network(path) -> Network            read, check against the JSON Schema, build, validate
    save_network(network, path)              validate, write atomically (one feature per line)
    network_to_geojson(network) -> dict      the file's content (also served by /api/v1/network)
    network_from_geojson(obj) -> Network     the reverse; raises NetworkError

Checking happens in two stages, each listing *every* problem it finds in one `NetworkError`:
first the JSON Schema (docs/schemas/network.schema.json, draft 2020-12), each problem with its
JSON path (`$.features[3].properties.lanes (link 'L7'): 0 is less than the minimum of 1`); then,
once the structure is sound, the domain's `validate()` (unknown references, duplicate ids, zero
length geometry, detectors off their link or lane). A detector's coordinates are derived from its
link geometry and `position_m` when saving and are not used when loading.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from citytraffic.domain.errors import NetworkError
from citytraffic.domain.network import (
    Detector,
    Gateway,
    Junction,
    Link,
    Movement,
    Network,
    Phase,
    RoadClass,
    SignalGroup,
    Site,
    SiteKind,
    haversine_m,
    validate,
)

__all__ = [
    "FORMAT_VERSION",
    "SCHEMA_PATH",
    "dumps_network",
    "load_network",
    "network_from_geojson",
    "network_to_geojson",
    "point_along",
    "save_network",
    "schema_problems",
]

FORMAT_VERSION = 1
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "docs" / "schemas" / "network.schema.json"
_COORD_DIGITS = 7  # about 1 cm


@functools.cache
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


# ---------------------------------------------------------------------------------------------
# reading


def load_network(path: str | os.PathLike[str]) -> Network:
    """Read and validate a network file. Raises NetworkError listing every problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NetworkError([f"{p}: cannot read the file: {exc}"]) from None
    try:
        obj = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise NetworkError([f"{p}: not valid JSON: {exc}"]) from None
    return network_from_geojson(obj)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def schema_problems(obj: object) -> list[str]:
    """Every JSON Schema violation of `obj`, as `<json path> [(<kind> '<id>')]: <message>`."""
    errors = sorted(_validator().iter_errors(obj), key=_error_sort_key)
    return [f"{e.json_path}{_label(obj, e)}: {e.message}" for e in errors]


def _error_sort_key(error: ValidationError) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in error.absolute_path)


def _label(obj: object, error: ValidationError) -> str:
    """` (link 'L7')` when the error sits inside a feature whose type and id are readable."""
    path = list(error.absolute_path)
    if len(path) < 2 or path[0] != "features" or not isinstance(path[1], int):
        return ""
    try:
        props = obj["features"][path[1]]["properties"]  # type: ignore[index]
        kind, key = props.get("feature_type"), props.get("id")
    except (TypeError, KeyError, IndexError, AttributeError):
        return ""
    if isinstance(kind, str) and isinstance(key, str):
        return f" ({kind} {key!r})"
    return ""


def network_from_geojson(obj: object) -> Network:
    """Build a Network from a decoded network file. Raises NetworkError listing every problem."""
    problems = schema_problems(obj)
    if problems:
        raise NetworkError(problems)
    assert isinstance(obj, dict)
    meta: dict[str, Any] = obj["citytraffic"]
    sites: list[Site] = []
    links: list[Link] = []
    detectors: list[Detector] = []
    junctions: list[Junction] = []
    for feature in obj["features"]:
        props: dict[str, Any] = feature["properties"]
        coords = feature["geometry"]["coordinates"]
        kind = props["feature_type"]
        if kind == "site":
            sites.append(
                Site(
                    id=props["id"],
                    kind=SiteKind(props["kind"]),
                    lon=float(coords[0]),
                    lat=float(coords[1]),
                    name=props.get("name", ""),
                )
            )
            if "signal" in props:
                junctions.append(_junction_from(props["id"], props["signal"]))
        elif kind == "link":
            links.append(
                Link(
                    id=props["id"],
                    coordinates=tuple((float(c[0]), float(c[1])) for c in coords),
                    lanes=props["lanes"],
                    free_flow_kmh=float(props["free_flow_kmh"]),
                    road_class=RoadClass(props["road_class"]),
                    from_site=props.get("from_site"),
                    to_site=props.get("to_site"),
                    name=props.get("name", ""),
                )
            )
        else:
            detectors.append(
                Detector(
                    id=props["id"],
                    site=props["site"],
                    link=props["link"],
                    lane=props["lane"],
                    position_m=float(props["position_m"]),
                )
            )
    gateways = tuple(Gateway(id=g["id"], sites=tuple(g["sites"])) for g in meta.get("gateways", ()))
    network = Network(
        name=meta["name"],
        sites=tuple(sites),
        links=tuple(links),
        detectors=tuple(detectors),
        junctions=tuple(junctions),
        gateways=gateways,
    )
    return validate(network)


def _junction_from(site_id: str, signal: dict[str, Any]) -> Junction:
    defaults = Junction(site=site_id)
    group_defaults = SignalGroup(id="defaults", movements=())
    groups = tuple(
        SignalGroup(
            id=g["id"],
            movements=tuple(
                Movement(link=m["link"], lanes=tuple(m["lanes"]), to_link=m.get("to_link"))
                for m in g["movements"]
            ),
            min_green_s=float(g.get("min_green_s", group_defaults.min_green_s)),
            pedestrian_clearance_s=float(
                g.get("pedestrian_clearance_s", group_defaults.pedestrian_clearance_s)
            ),
        )
        for g in signal.get("signal_groups", ())
    )
    phases = tuple(
        Phase(id=p["id"], signal_groups=tuple(p["signal_groups"])) for p in signal.get("phases", ())
    )
    return Junction(
        site=site_id,
        signal_groups=groups,
        phases=phases,
        yellow_s=float(signal.get("yellow_s", defaults.yellow_s)),
        all_red_s=float(signal.get("all_red_s", defaults.all_red_s)),
        local_plan=signal.get("local_plan", defaults.local_plan),
    )


# ---------------------------------------------------------------------------------------------
# writing


def network_to_geojson(network: Network) -> dict[str, Any]:
    """The network as a network-file object (validates the network first)."""
    validate(network)
    junctions = {j.site: j for j in network.junctions}
    links = {ln.id: ln for ln in network.links}
    meta: dict[str, Any] = {"version": FORMAT_VERSION, "name": network.name}
    if network.gateways:
        meta["gateways"] = [{"id": g.id, "sites": list(g.sites)} for g in network.gateways]
    features: list[dict[str, Any]] = []
    for s in network.sites:
        props: dict[str, Any] = {"feature_type": "site", "id": s.id, "kind": s.kind.value}
        if s.name:
            props["name"] = s.name
        junction = junctions.get(s.id)
        if junction is not None:
            props["signal"] = _signal_to(junction)
        features.append(_feature(f"site/{s.id}", "Point", [s.lon, s.lat], props))
    for ln in network.links:
        props = {
            "feature_type": "link",
            "id": ln.id,
            "lanes": ln.lanes,
            "free_flow_kmh": ln.free_flow_kmh,
            "road_class": ln.road_class.value,
            "from_site": ln.from_site,
            "to_site": ln.to_site,
        }
        if ln.name:
            props["name"] = ln.name
        geometry = [[lon, lat] for lon, lat in ln.coordinates]
        features.append(_feature(f"link/{ln.id}", "LineString", geometry, props))
    for d in network.detectors:
        lon, lat = point_along(links[d.link].coordinates, d.position_m)
        props = {
            "feature_type": "detector",
            "id": d.id,
            "site": d.site,
            "link": d.link,
            "lane": d.lane,
            "position_m": d.position_m,
        }
        features.append(_feature(f"detector/{d.id}", "Point", [lon, lat], props))
    obj: dict[str, Any] = {"type": "FeatureCollection", "citytraffic": meta}
    if network.sites or network.links:
        obj["bbox"] = list(network.bounds())
    obj["features"] = features
    return obj


def _feature(fid: str, gtype: str, coordinates: list[Any], props: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": fid,
        "geometry": {"type": gtype, "coordinates": coordinates},
        "properties": props,
    }


def _signal_to(j: Junction) -> dict[str, Any]:
    return {
        "yellow_s": j.yellow_s,
        "all_red_s": j.all_red_s,
        "local_plan": j.local_plan,
        "signal_groups": [
            {
                "id": g.id,
                "min_green_s": g.min_green_s,
                "pedestrian_clearance_s": g.pedestrian_clearance_s,
                "movements": [
                    {"link": m.link, "lanes": list(m.lanes), "to_link": m.to_link}
                    for m in g.movements
                ],
            }
            for g in j.signal_groups
        ],
        "phases": [{"id": p.id, "signal_groups": list(p.signal_groups)} for p in j.phases],
    }


def point_along(
    coordinates: Sequence[tuple[float, float]], position_m: float
) -> tuple[float, float]:
    """The (lon, lat) `position_m` metres along a polyline (clamped to its ends), 7 decimals."""
    remaining = max(0.0, position_m)
    lon, lat = coordinates[-1]
    for a, b in pairwise(coordinates):
        seg_m = haversine_m(a[0], a[1], b[0], b[1])
        if seg_m > 0 and remaining <= seg_m:
            f = remaining / seg_m
            lon, lat = a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1])
            break
        remaining -= seg_m
    return round(lon, _COORD_DIGITS), round(lat, _COORD_DIGITS)


def dumps_network(network: Network) -> str:
    """The file text: header members first, then one feature per line (small diffs, readable)."""
    obj = network_to_geojson(network)
    features = obj.pop("features")
    head = json.dumps(obj, ensure_ascii=False, allow_nan=False)[:-1]
    lines = [json.dumps(f, ensure_ascii=False, allow_nan=False) for f in features]
    body = ",\n".join(lines)
    return f'{head}, "features": [\n{body}\n]}}\n' if lines else f'{head}, "features": []}}\n'


def save_network(network: Network, path: str | os.PathLike[str]) -> None:
    """Validate and write the network file atomically (temp file, fsync, rename)."""
    text = dumps_network(network)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
