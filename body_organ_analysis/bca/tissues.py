"""Tissues from body regions and HU windows (``tissues.nii.gz``).

muscle: muscle HU window inside the muscle region; bone: the bone region;
SAT/VAT/IMAT/PAT/EAT: fat HU window inside subcutaneous tissue, abdominal
cavity, muscle, mediastinum and pericardium. TAT (total adipose tissue) is
the sum of the fat tissues and has no label of its own.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from body_organ_analysis.errors import UsageError
from body_organ_analysis.labelmap import LabelMap
from body_organ_analysis.models.registry import BODY_REGIONS_LABELS

TISSUE_LABELS = {1: "muscle", 2: "bone", 3: "sat", 4: "vat", 5: "imat", 6: "pat", 7: "eat"}
TISSUE_IDS = {name: label for label, name in TISSUE_LABELS.items()}
FAT_TISSUES = ("sat", "vat", "imat", "pat", "eat")
ALL_TISSUES = ("muscle", "bone", "sat", "vat", "imat", "pat", "eat", "tat")
DEFAULT_HU_WINDOWS: dict[str, tuple[float, float]] = {
    "muscle": (-29.0, 150.0),
    "fat": (-190.0, -30.0),
}
# tissue -> (body region, HU window name or None for "every voxel of the region")
TISSUE_RULES: dict[str, tuple[str, str | None]] = {
    "muscle": ("muscle", "muscle"),
    "bone": ("bones", None),
    "sat": ("subcutaneous_tissue", "fat"),
    "vat": ("abdominal_cavity", "fat"),
    "imat": ("muscle", "fat"),
    "pat": ("mediastinum", "fat"),
    "eat": ("pericardium", "fat"),
}


def hu_windows(overrides: Mapping[str, tuple[float, float]] | None = None) -> dict[str, tuple[float, float]]:
    """The HU windows in force: defaults updated with the user's (``--bca-hu-window``)."""
    windows = dict(DEFAULT_HU_WINDOWS)
    for name, window in (overrides or {}).items():
        if name not in windows:
            raise UsageError(f"Unknown HU window {name!r}. Windows: {', '.join(windows)}.")
        low, high = float(window[0]), float(window[1])
        if not low < high:
            raise UsageError(f"HU window {name}: the lower bound {low} is not below the upper {high}.")
        windows[name] = (low, high)
    return windows


def tissue_map(
    hu: np.ndarray, regions: LabelMap, windows: Mapping[str, tuple[float, float]], affine: np.ndarray
) -> LabelMap:
    """The tissues label map on the CT grid."""
    region_ids = {name: label for label, name in BODY_REGIONS_LABELS.items()}
    # lookup (region id, window class) -> tissue: one pass over the volume
    window_class = np.zeros_like(hu, dtype=np.uint8)  # 0 none, 1 muscle, 2 fat window; hu's memory order
    low, high = windows["muscle"]
    window_class[(hu >= low) & (hu <= high)] = 1
    low, high = windows["fat"]
    window_class[(hu >= low) & (hu <= high)] = 2
    lut = np.zeros((max(region_ids.values()) + 1, 3), dtype=np.uint8)
    for tissue, (region, window) in TISSUE_RULES.items():
        row = region_ids[region]
        if window is None:
            lut[row, :] = TISSUE_IDS[tissue]
        else:
            lut[row, 1 if window == "muscle" else 2] = TISSUE_IDS[tissue]
    window_class += regions.data.astype(np.uint8, copy=False) * np.uint8(3)  # region * 3 + window class
    data = lut.ravel()[window_class]
    return LabelMap(data, affine.copy(), TISSUE_LABELS, "tissues", origin="derived",
                    details={"hu_windows": {k: list(v) for k, v in windows.items()}})  # fmt: skip
