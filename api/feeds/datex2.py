"""`/feeds/datex2/traffic-status.xml`: a DATEX II v3 ElaboratedDataPublication of TrafficStatus.

Shape (namespaces of the DATEX II v3 schemas; `d2:payload` is the global element of the
d2Payload schema, typed by `xsi:type`):

    d2:payload  xsi:type="roa:ElaboratedDataPublication" lang modelBaseVersion="3"
      com:publicationTime
      com:publicationCreator      com:country, com:nationalIdentifier
      roa:headerInformation       com:confidentiality=noRestriction, com:informationStatus=real
      roa:physicalQuantity        xsi:type="roa:SinglePhysicalQuantity", one per link
        roa:pertinentLocation     xsi:type="loc:PointLocation"
          loc:externalReferencing loc:externalLocationCode (link id),
                                  loc:externalReferencingSystem
          loc:pointByCoordinates/loc:pointCoordinates  loc:latitude, loc:longitude
                                  (the middle of the link, WGS 84)
        roa:basicData             xsi:type="roa:TrafficStatus"
          roa:measurementOrCalculationTime/roa:timeValue  (newest reading; absent without data)
          roa:trafficTrendType    trafficBuildingUp | trafficEasing | trafficStable (if known)
          roa:trafficStatus/roa:trafficStatusValue         (TrafficStatusEnum, see
                                  common.traffic_status for the speed-ratio mapping)

Element order follows the schema sequences (PayloadPublication, then ElaboratedDataPublication;
Location, NetworkLocation, then PointLocation; BasicData, then TrafficStatus).
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from api.feeds.common import FeedContext, FeedInput, point_along, traffic_status
from api.timefmt import rfc3339

__all__ = ["MEDIA_TYPE", "NAMESPACES", "TREND_VALUES", "traffic_status_xml"]

MEDIA_TYPE = "application/xml"
NAMESPACES = {
    "d2": "http://datex2.eu/schema/3/d2Payload",
    "com": "http://datex2.eu/schema/3/common",
    "roa": "http://datex2.eu/schema/3/roadTrafficData",
    "loc": "http://datex2.eu/schema/3/locationReferencing",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}
TREND_VALUES = {
    "building_up": "trafficBuildingUp",
    "easing": "trafficEasing",
    "stable": "trafficStable",
}
REFERENCING_SYSTEM = "citytraffic network link id"


def traffic_status_xml(inp: FeedInput, ctx: FeedContext) -> bytes:
    ns = " ".join(f"xmlns:{prefix}={quoteattr(uri)}" for prefix, uri in NAMESPACES.items())
    out: list[str] = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<d2:payload {ns} xsi:type="roa:ElaboratedDataPublication" '
        f'lang={quoteattr(ctx.language)} modelBaseVersion="3">',
        f"<com:publicationTime>{rfc3339(inp.published_ns)}</com:publicationTime>",
        "<com:publicationCreator>",
        f"<com:country>{escape(ctx.country)}</com:country>",
        f"<com:nationalIdentifier>{escape(ctx.national_identifier)}</com:nationalIdentifier>",
        "</com:publicationCreator>",
        "<roa:headerInformation>",
        "<com:confidentiality>noRestriction</com:confidentiality>",
        "<com:informationStatus>real</com:informationStatus>",
        "</roa:headerInformation>",
    ]
    for link in inp.network.links:
        c = inp.links.get(link.id)
        lon, lat = point_along(link, link.length_m / 2)
        out += [
            '<roa:physicalQuantity xsi:type="roa:SinglePhysicalQuantity">',
            '<roa:pertinentLocation xsi:type="loc:PointLocation">',
            "<loc:externalReferencing>",
            f"<loc:externalLocationCode>{escape(link.id)}</loc:externalLocationCode>",
            f"<loc:externalReferencingSystem>{REFERENCING_SYSTEM}</loc:externalReferencingSystem>",
            "</loc:externalReferencing>",
            "<loc:pointByCoordinates><loc:pointCoordinates>",
            f"<loc:latitude>{lat:.6f}</loc:latitude><loc:longitude>{lon:.6f}</loc:longitude>",
            "</loc:pointCoordinates></loc:pointByCoordinates>",
            "</roa:pertinentLocation>",
            '<roa:basicData xsi:type="roa:TrafficStatus">',
        ]
        if c is not None and c.time_ns is not None:
            out.append(
                "<roa:measurementOrCalculationTime><roa:timeValue>"
                f"{rfc3339(c.time_ns)}"
                "</roa:timeValue></roa:measurementOrCalculationTime>"
            )
        trend = TREND_VALUES.get(c.trend or "") if c is not None and not c.stale else None
        if trend is not None:
            out.append(f"<roa:trafficTrendType>{trend}</roa:trafficTrendType>")
        out += [
            "<roa:trafficStatus><roa:trafficStatusValue>"
            f"{traffic_status(c)}"
            "</roa:trafficStatusValue></roa:trafficStatus>",
            "</roa:basicData>",
            "</roa:physicalQuantity>",
        ]
    out.append("</d2:payload>\n")
    return "".join(out).encode("utf-8")
