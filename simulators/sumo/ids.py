"""citytraffic ids for SUMO ids.

SUMO allows ids that cannot be MQTT topic levels or InfluxDB tags (`#`, spaces, a leading `-`,
...). `safe_id` maps every SUMO id to an allowed one (citytraffic's ID_PATTERN), the same way
every time; clean ids (every netgenerate id) are kept as they are.
"""

from __future__ import annotations

import hashlib
import re

from citytraffic.domain.network import ID_PATTERN

_BAD_CHARS = re.compile(r"[^A-Za-z0-9_.:-]")


def safe_id(sumo_id: str) -> str:
    if ID_PATTERN.match(sumo_id):
        return sumo_id
    cleaned = _BAD_CHARS.sub("_", sumo_id)
    if not cleaned or not cleaned[0].isalnum():
        cleaned = "x" + cleaned
    digest = hashlib.sha256(sumo_id.encode()).hexdigest()[:8]
    return f"{cleaned[:55]}-{digest}"
