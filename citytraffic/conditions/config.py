"""Thresholds of the conditions, health and incident engines (defaults from docs/domain.md).

Every number an engine compares against lives here, in a frozen dataclass with a default and the
source of that default. Build a variant with `dataclasses.replace(DEFAULT_..., field=value)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from citytraffic.domain.quality import DEFAULT_LIMITS, RangeLimits

KM_PER_MILE = 1.609344

# (letter, bound) pairs, best level first. Urban: LOS is the first letter whose speed ratio is
# strictly above the bound (HCM 2010 urban streets, domain.md 3); F otherwise.
URBAN_SPEED_RATIO_BANDS: tuple[tuple[str, float], ...] = (
    ("A", 0.85),
    ("B", 0.67),
    ("C", 0.50),
    ("D", 0.40),
    ("E", 0.30),
)
# Freeway: the first letter whose density in pc/mi/lane is <= the bound (HCM basic freeway
# segments, domain.md 3); F otherwise.
FREEWAY_DENSITY_BANDS_PC_MI_LN: tuple[tuple[str, float], ...] = (
    ("A", 11.0),
    ("B", 18.0),
    ("C", 26.0),
    ("D", 35.0),
    ("E", 45.0),
)
# Freeway stations that measure speed only (METR-LA): density is not observable. Bands on the
# speed ratio read off the HCM 6 basic-freeway speed-flow curve at FFS 65 mph (speed stays at FFS
# up to the breakpoint, so A-C cannot be told apart: "A" here means "A to C"; D/E boundary at
# ~0.90, speed at capacity ~0.80 of FFS). Reported with los_basis "speed_ratio_hcm". See
# docs/conditions.md.
FREEWAY_SPEED_RATIO_BANDS: tuple[tuple[str, float], ...] = (
    ("A", 0.95),
    ("D", 0.90),
    ("E", 0.80),
)


@dataclass(frozen=True, slots=True)
class ConditionThresholds:
    effective_length_m: float = 7.5  # vehicle + zone length, occ = k * L_eff / 1000 (domain.md 1)
    window_s: int = 300  # values are averaged over the newest window_s of each series
    history_s: int = 3600  # samples older than this before `now` are ignored
    stale_after_s: int = 600  # no LOS / congested for data older than this
    future_tolerance_s: int = 120  # samples stamped further ahead of `now` are ignored
    min_speed_for_flow_density_kmh: float = 5.0  # below, k = q/v is unstable: use occupancy
    min_occupancy_for_speed_estimate: float = 0.005  # g-factor speed needs some occupancy
    max_speed_estimate_kmh: float = 200.0  # clamp of the g-factor speed
    passenger_car_equivalent: float = 1.0  # veh -> pc for freeway density (no class data)
    urban_bands: tuple[tuple[str, float], ...] = URBAN_SPEED_RATIO_BANDS
    freeway_density_bands: tuple[tuple[str, float], ...] = FREEWAY_DENSITY_BANDS_PC_MI_LN
    freeway_speed_bands: tuple[tuple[str, float], ...] = FREEWAY_SPEED_RATIO_BANDS
    urban_congested_los: tuple[str, ...] = ("E", "F")
    urban_congested_speed_ratio: float = 0.40  # congested also when speed < this share of FFS
    freeway_congested_speed_kmh: float = 56.0  # Caltrans: <= 35 mph ...
    freeway_congested_min_s: int = 900  # ... for >= 15 minutes
    freeway_congested_los_fallback: tuple[str, ...] = ("F",)  # no speed at all: use LOS
    max_gap_factor: float = 1.5  # a gap > factor x interval breaks a congestion run
    trend_window_s: int = 900  # least-squares slope over this span
    trend_min_points: int = 3
    trend_dead_band_speed_ratio_per_5min: float = 0.05  # |slope| below: stable
    trend_dead_band_occupancy_per_5min: float = 0.02


@dataclass(frozen=True, slots=True)
class PemsLimits:
    """PeMS-style daily diagnostics on daytime samples, as shares of the samples.

    PeMS counts over 2040 daytime 30 s samples: 1200 with occupancy 0, 50 with occupancy > 0 and
    flow 0, 200 with occupancy > 0.35, entropy < 4 (domain.md 2). Shares: 0.588, 0.0245, 0.098.
    None disables a test.
    """

    zero_occupancy_share: float | None = 1200 / 2040
    occupancy_without_count_share: float | None = 50 / 2040
    count_without_occupancy_share: float | None = 50 / 2040
    high_occupancy: float = 0.35
    high_occupancy_share: float | None = 200 / 2040
    min_entropy_bits: float | None = 4.0


# Urban stop-line loops see standing queues (occupancy 1.0 with count 0 during red) and empty
# 20 s intervals on minor roads: PeMS freeway limits would flag healthy loops. (approx.)
URBAN_PEMS_LIMITS = PemsLimits(
    zero_occupancy_share=None,
    occupancy_without_count_share=0.30,
    count_without_occupancy_share=50 / 2040,
    high_occupancy=0.90,
    high_occupancy_share=0.30,
    min_entropy_bits=1.0,
)


@dataclass(frozen=True, slots=True)
class HealthThresholds:
    range_limits: RangeLimits = DEFAULT_LIMITS
    freeway: PemsLimits = field(default_factory=PemsLimits)
    urban: PemsLimits = URBAN_PEMS_LIMITS
    timezone: str = "UTC"  # IANA name; daytime hours are local
    daytime_start_hour: int = 5
    daytime_end_hour: int = 22
    min_daytime_samples: int = 60  # fewer daytime samples: the share tests are not run
    entropy_resolution: float = 0.001  # occupancy rounded to this before the entropy
    entropy_speed_resolution_kmh: float = 0.1  # speed-only detectors: entropy of speed
    stuck_min_s: int = 1800  # identical non-zero readings for this long: stuck
    stuck_min_intervals: int = 5  # ... and at least this many intervals
    dead_after_s: int = 3600  # no data for this much daytime: dead
    silent_after_s: int = 900  # no data for this long (any time of day): suspect
    future_tolerance_s: int = 120  # a reading stamped further ahead of `now`: clock skew
    receive_skew_tolerance_s: float = 60.0  # |receive - source| floor beyond this: clock skew
    range_suspect_share: float = 0.0  # share of range-flagged readings above: suspect
    range_bad_share: float = 0.5  # ... above: bad
    bad_flags: tuple[str, ...] = ("dead", "stuck", "zero_occupancy")
    # a flag in bad_flags makes the status "bad"; any other flag makes it "suspect" (and "range"
    # makes it "bad" when the flagged share reaches range_bad_share)


@dataclass(frozen=True, slots=True)
class IncidentThresholds:
    # California #7/#8 (domain.md 4), occupancies in percent
    occdf_min_pct: float = 8.0
    occrdf_min: float = 0.5
    docctd_min: float = 0.3
    confirm_intervals: int = 1  # intervals with OCCRDF >= occrdf_min after the tentative one
    compression_occ_pct: float = 30.0  # downstream occupancy >= this: compression wave
    compression_docctd: float = -0.4  # DOCCTD below this: compression wave
    suppression_intervals: int = 5
    min_upstream_occ_pct: float = 1.0  # OCCRDF is undefined near zero occupancy
    max_missing_intervals: int = 3  # a pair without data this long ends its incident
    smoothing_s: int = 150  # station occupancy: moving mean over this span (0: raw intervals)
    # single station / McMaster-like persistence rule
    station_congested_occupancy: float = 0.25
    station_congested_speed_ratio: float = 0.50
    station_free_occupancy: float = 0.15
    station_free_speed_ratio: float = 0.75
    persistence_intervals: int = 3  # congested this many intervals in a row: tentative
    station_confirm_intervals: int = 2  # ... and this many more: confirmed
    onset_lookback_intervals: int = 3  # the station was free within this many intervals before
    baseline_margin_occupancy: float = 0.10  # with a baseline: occupancy above typical + margin
    baseline_margin_speed_ratio: float = 0.25  # ... or speed below typical - margin x FFS
    baseline_replaces_onset: bool = False  # False: the baseline only filters alarms
    clear_intervals: int = 2  # free this many intervals in a row: ended
    pair_persistence_with_occupancy: bool = True  # also on pairs California watches
    road_classes: tuple[str, ...] = ("freeway", "urban")  # links whose stations are watched
    # pairing
    station_merge_m: float = 30.0  # detectors of one link within this distance form a station
    max_pair_distance_m: float = 3000.0
    max_turn_deg: float = 35.0  # continuing the same road through a junction
    geometric_pairing: bool = True  # freeway stations without link connectivity
    max_lateral_m: float = 150.0
    # confidence
    tentative_confidence: float = 0.4
    confirmed_confidence: float = 0.6
    confidence_step: float = 0.05
    max_confidence: float = 0.95
    single_station_factor: float = 0.8  # single-station incidents are weaker evidence
    max_ended_kept: int = 1000


DEFAULT_CONDITIONS = ConditionThresholds()
DEFAULT_HEALTH = HealthThresholds()
DEFAULT_INCIDENTS = IncidentThresholds()
