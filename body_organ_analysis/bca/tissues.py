"""Tissues from body regions and HU windows (``tissues.nii.gz``).

muscle: muscle HU window inside the muscle region; bone: bone HU window
(-1000..3000 HU by default, as the reference tool) inside the bone region, so
metal (implants, above the window) never raises the bone's HU; SAT/VAT/IMAT/
PAT/EAT: fat HU window inside subcutaneous tissue, abdominal cavity, muscle,
mediastinum and pericardium. TAT (total adipose tissue) is the sum of the fat
tissues and has no label of its own. Metal (body voxels above the bone window)
is counted by :func:`metal_voxels` and reported on its own.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from body_organ_analysis.imaging.slabs import slabs
from body_organ_analysis.labelmap import LabelMap
from body_organ_analysis.models.registry import BODY_REGIONS_LABELS

TISSUE_LABELS = {1: "muscle", 2: "bone", 3: "sat", 4: "vat", 5: "imat", 6: "pat", 7: "eat"}
TISSUE_IDS = {name: label for label, name in TISSUE_LABELS.items()}
FAT_TISSUES = ("sat", "vat", "imat", "pat", "eat")
ALL_TISSUES = ("muscle", "bone", "sat", "vat", "imat", "pat", "eat", "tat")
# tissue -> (body region, HU window name)
TISSUE_RULES: dict[str, tuple[str, str | None]] = {
    "muscle": ("muscle", "muscle"),
    "bone": ("bones", "bone"),
    "sat": ("subcutaneous_tissue", "fat"),
    "vat": ("abdominal_cavity", "fat"),
    "imat": ("muscle", "fat"),
    "pat": ("mediastinum", "fat"),
    "eat": ("pericardium", "fat"),
}


WINDOW_CLASSES = ("muscle", "fat", "bone")  # window class 1, 2, 3 (0: in none)


def tissue_map(
    hu: np.ndarray, regions: LabelMap, windows: Mapping[str, tuple[float, float]], affine: np.ndarray
) -> LabelMap:
    """The tissues label map on the CT grid."""
    region_ids = {name: label for label, name in BODY_REGIONS_LABELS.items()}
    # lookup (region id, window class) -> tissue: one pass over the volume. The bone window
    # is applied only in the bone region (it overlaps the others), via its own lookup column.
    classes = len(WINDOW_CLASSES) + 1
    window_class = np.zeros_like(hu, dtype=np.uint8)  # hu's memory order
    in_bone_window = (hu >= windows["bone"][0]) & (hu <= windows["bone"][1])
    window_class[in_bone_window] = 3
    for index, name in ((1, "muscle"), (2, "fat")):
        low, high = windows[name]
        window_class[(hu >= low) & (hu <= high)] = index
    lut = np.zeros((max(region_ids.values()) + 1, classes), dtype=np.uint8)
    for tissue, (region, window) in TISSUE_RULES.items():
        row = region_ids[region]
        if window == "bone":  # every voxel of the region inside the bone window (classes 1-3)
            lut[row, 1:] = TISSUE_IDS[tissue]
        else:
            lut[row, 1 + WINDOW_CLASSES.index(window)] = TISSUE_IDS[tissue]
    window_class += regions.data.astype(np.uint8, copy=False) * np.uint8(classes)  # region * 4 + class
    data = lut.ravel()[window_class]
    return LabelMap(data, affine.copy(), TISSUE_LABELS, "tissues", origin="derived",
                    details={"hu_windows": {k: list(v) for k, v in windows.items()}})  # fmt: skip


def metal_voxels(hu: np.ndarray, regions: LabelMap, windows: Mapping[str, tuple[float, float]]) -> int:
    """Body voxels above the bone window (metal: implants, wires, dental fillings), slab by slab."""
    top = windows["bone"][1]
    return sum(int(np.count_nonzero((hu[s] > top) & (regions.data[s] > 0))) for s in slabs(hu))
