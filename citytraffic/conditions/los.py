"""Level of service A-F (domain.md section 3)."""

from __future__ import annotations

from citytraffic.conditions.config import (
    FREEWAY_DENSITY_BANDS_PC_MI_LN,
    FREEWAY_SPEED_RATIO_BANDS,
    URBAN_SPEED_RATIO_BANDS,
)

LOS_LETTERS = ("A", "B", "C", "D", "E", "F")


def urban_los(
    speed_ratio: float, bands: tuple[tuple[str, float], ...] = URBAN_SPEED_RATIO_BANDS
) -> str:
    """Urban street LOS from speed / free-flow speed: the first band whose bound the ratio
    strictly exceeds (A > 0.85, B > 0.67, C > 0.50, D > 0.40, E > 0.30), else F."""
    for letter, bound in bands:
        if speed_ratio > bound:
            return letter
    return "F"


def freeway_los(
    density_pc_mi_ln: float,
    bands: tuple[tuple[str, float], ...] = FREEWAY_DENSITY_BANDS_PC_MI_LN,
) -> str:
    """Freeway LOS from density in pc/mi/lane: A <= 11, B <= 18, C <= 26, D <= 35, E <= 45,
    F above."""
    for letter, bound in bands:
        if density_pc_mi_ln <= bound:
            return letter
    return "F"


def freeway_speed_los(
    speed_ratio: float, bands: tuple[tuple[str, float], ...] = FREEWAY_SPEED_RATIO_BANDS
) -> str:
    """Freeway LOS for speed-only stations: the first band whose bound the ratio reaches
    (A(-C) >= 0.95, D >= 0.90, E >= 0.80), else F. See FREEWAY_SPEED_RATIO_BANDS."""
    for letter, bound in bands:
        if speed_ratio >= bound:
            return letter
    return "F"
