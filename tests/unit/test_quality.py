from citytraffic.domain.quality import QUALITY_OK, range_flags


def test_plausible_reading_is_ok() -> None:
    assert range_flags(count=10, occupancy=0.12, speed_kmh=42.0, interval_s=60) == QUALITY_OK


def test_speed_only_reading_is_ok() -> None:
    assert range_flags(count=None, occupancy=None, speed_kmh=101.4, interval_s=300) == QUALITY_OK


def test_each_range_flag() -> None:
    assert range_flags(-1, 0.1, 40.0, 60) == "count_negative"
    # 51 vehicles in 60 s = 3060 veh/h > 3000 veh/h/lane
    assert range_flags(51, 0.5, 40.0, 60) == "flow_above_max"
    assert range_flags(50, 0.5, 40.0, 60) == QUALITY_OK
    assert range_flags(5, 1.2, 40.0, 60) == "occupancy_out_of_range"
    assert range_flags(5, 0.1, 250.0, 60) == "speed_out_of_range"
    assert range_flags(5, 0.1, -1.0, 60) == "speed_out_of_range"


def test_consistency_flags_and_joining() -> None:
    assert range_flags(3, 0.0, 40.0, 60) == "count_without_occupancy"
    assert range_flags(0, 0.3, None, 60) == "occupancy_without_count"
    assert range_flags(-2, 1.5, 300.0, 60) == (
        "count_negative;occupancy_out_of_range;speed_out_of_range"
    )


def test_non_positive_interval_is_a_flag_not_a_crash() -> None:
    assert range_flags(3, 0.1, 40.0, 0) == "interval_invalid"
