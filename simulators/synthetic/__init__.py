"""The synthetic city simulator: a signalised grid (and a freeway) at real coordinates.

- `city`: builds the `Network` (sites, links, detectors, signal groups, gateways);
- `profiles`: weekday/weekend demand profiles;
- `signals`: fixed-time signal plans;
- `model`: the seeded traffic model (fundamental diagram, queues, spill-back, incidents);
- `run`: publishes it over MQTT through one `GatewayPublisher` per gateway.
"""

from simulators.synthetic.city import City, CityConfig, build_city
from simulators.synthetic.model import Incident, LaneReading, SiteReadings, SyntheticModel
from simulators.synthetic.run import IncidentSpec, parse_incident, run_synthetic

__all__ = [
    "City",
    "CityConfig",
    "Incident",
    "IncidentSpec",
    "LaneReading",
    "SiteReadings",
    "SyntheticModel",
    "build_city",
    "parse_incident",
    "run_synthetic",
]
