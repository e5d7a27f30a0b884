"""How every number is rounded in the JSON files, the workbook and the PDF (one rule each).

- volumes (mL): to 0.1 mL, or to 3 significant digits when that is finer
  (a one-voxel structure of 0.0012 mL stays 0.0012, never 0.0);
- areas (cm^2): 0.01 cm^2;
- HU values (means, SDs, percentiles, windows): 0.1 HU;
- unitless ratios (CNR, probabilities): 0.01.
None and NaN become None. Float noise below 12 significant digits is dropped first, so
the order of a sum never decides a reported digit.
"""

from __future__ import annotations

import math
from typing import Any

VOLUME_DECIMALS = 1
VOLUME_SIGNIFICANT = 3
AREA_DECIMALS = 2
HU_DECIMALS = 1
RATIO_DECIMALS = 2
NOISE_DIGITS = 12


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        return None
    # 12 significant digits first: sums taken in another order (the same volume stored
    # flipped) differ in the last bits and must not round to different reported values
    return float(f"{number:.{NOISE_DIGITS}g}")


def round_volume_ml(value: Any) -> float | None:
    number = _finite(value)
    if number is None or number == 0:
        return number
    significant = VOLUME_SIGNIFICANT - 1 - math.floor(math.log10(abs(number)))
    return round(number, max(VOLUME_DECIMALS, significant))


def round_area_cm2(value: Any) -> float | None:
    number = _finite(value)
    return None if number is None else round(number, AREA_DECIMALS)


def round_hu(value: Any) -> float | None:
    number = _finite(value)
    return None if number is None else round(number, HU_DECIMALS)


def round_ratio(value: Any) -> float | None:
    number = _finite(value)
    return None if number is None else round(number, RATIO_DECIMALS)


def format_volume_ml(value: Any) -> str:
    """Text of a rounded volume without trailing float noise: 812.5, 45.7, 0.0012."""
    number = round_volume_ml(value)
    if number is None:
        return "-"
    if number == 0 or abs(number) >= 10 ** (VOLUME_SIGNIFICANT - 1):
        return f"{number:.{VOLUME_DECIMALS}f}"
    significant = VOLUME_SIGNIFICANT - 1 - math.floor(math.log10(abs(number)))
    return f"{number:.{max(VOLUME_DECIMALS, significant)}f}"
