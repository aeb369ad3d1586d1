"""Road conditions, detector health and incident detection: pure engines, no I/O.

Inputs are plain data (the `Network` and `DetectorSample`s); outputs are frozen msgspec structs
that serialise with `msgspec.json.encode` / `msgspec.to_builtins`. Every threshold lives in
`config.py`. See docs/conditions.md.
"""

from citytraffic.conditions.baseline import TimeOfDayBaseline
from citytraffic.conditions.config import (
    DEFAULT_CONDITIONS,
    DEFAULT_HEALTH,
    DEFAULT_INCIDENTS,
    ConditionThresholds,
    HealthThresholds,
    IncidentThresholds,
    PemsLimits,
)
from citytraffic.conditions.detector import IncidentDetector, detect_incidents
from citytraffic.conditions.engine import (
    ConditionsSnapshot,
    DetectorConditions,
    LinkConditions,
    compute_conditions,
)
from citytraffic.conditions.evaluation import (
    EvaluationResult,
    GroundTruthIncident,
    MatchRules,
    evaluate,
)
from citytraffic.conditions.health import (
    DetectorHealth,
    assess_detector,
    assess_health,
    health_fields,
    health_tags,
)
from citytraffic.conditions.incidents import Incident
from citytraffic.conditions.los import freeway_los, freeway_speed_los, urban_los
from citytraffic.conditions.pairing import Station, StationPair, build_pairs, build_stations
from citytraffic.conditions.samples import (
    DetectorSample,
    density_from_flow_speed,
    density_from_occupancy,
    flow_vph,
    occupancy_from_density,
    reading_flags,
    sample_from_fields,
    speed_from_flow_occupancy,
    vpkm_to_pc_per_mile,
)
from citytraffic.conditions.series import ConditionValues

__all__ = [
    "DEFAULT_CONDITIONS",
    "DEFAULT_HEALTH",
    "DEFAULT_INCIDENTS",
    "ConditionThresholds",
    "ConditionValues",
    "ConditionsSnapshot",
    "DetectorConditions",
    "DetectorHealth",
    "DetectorSample",
    "EvaluationResult",
    "GroundTruthIncident",
    "HealthThresholds",
    "Incident",
    "IncidentDetector",
    "IncidentThresholds",
    "LinkConditions",
    "MatchRules",
    "PemsLimits",
    "Station",
    "StationPair",
    "TimeOfDayBaseline",
    "assess_detector",
    "assess_health",
    "build_pairs",
    "build_stations",
    "compute_conditions",
    "density_from_flow_speed",
    "density_from_occupancy",
    "detect_incidents",
    "evaluate",
    "flow_vph",
    "freeway_los",
    "freeway_speed_los",
    "health_fields",
    "health_tags",
    "occupancy_from_density",
    "reading_flags",
    "sample_from_fields",
    "speed_from_flow_occupancy",
    "urban_los",
    "vpkm_to_pc_per_mile",
]
