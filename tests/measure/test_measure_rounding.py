"""The one rounding rule of every output (report/rounding.py)."""

from __future__ import annotations

import math

import pytest

from body_organ_analysis.report.rounding import format_volume_ml, round_area_cm2, round_hu, round_volume_ml


@pytest.mark.parametrize("value, expected", [
    (812.5349, 812.5), (45.678, 45.7), (1.2345, 1.23), (0.027, 0.027), (0.0012345, 0.00123), (0.0, 0.0),
    (None, None), (math.nan, None),
])  # fmt: skip
def test_volumes_keep_a_tenth_of_a_millilitre_or_three_significant_digits(value, expected):
    assert round_volume_ml(value) == expected


def test_a_one_voxel_structure_is_never_shown_as_zero():
    one_voxel_ml = 0.8 * 0.8 * 1.0 / 1000
    assert round_volume_ml(one_voxel_ml) > 0
    assert format_volume_ml(one_voxel_ml) == "0.000640"
    assert format_volume_ml(1031.64) == "1031.6" and format_volume_ml(None) == "-"


def test_areas_and_hu():
    assert round_area_cm2(120.4567) == 120.46 and round_hu(-98.66) == -98.7 and round_hu(None) is None
