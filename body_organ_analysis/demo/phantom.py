"""A synthetic CT phantom of a trunk with exactly known tissue volumes and areas.

Drawn voxel by voxel on a 3 x 3 x 5 mm grid (RAS): body outline and skin, a
30 mm subcutaneous fat layer, a 10 mm muscle wall, back muscles beside the
spine with fat pockets (intermuscular fat), vertebrae L5 to T10 and ribs,
lungs with mediastinal fat between them, liver (on the patient's right only),
spleen, kidneys, aorta, inferior vena cava and bowel in visceral fat, and two
arms (skin, fat, muscle, humerus). Coordinates are RAS+: +x is the patient's
RIGHT, so the liver, the right kidney and the right humerus lie at positive x. HU values are
realistic and Gaussian noise (SD 12 HU) is added; every class stays more than
five SDs inside its HU window, so the tissue each voxel belongs to is known
exactly: ``truth_tissues`` (labels as in ``bca.tissues``). A matching `total`
label map (vertebrae, organs, vessels, back muscles, lungs, humeri) lets the
demo show vertebral levels, CNR and the contrast phase.

The shapes follow the rules of the threshold engine (the muscle wall is the
inner 10 mm of the region inside the fat layer, the back muscles lie behind
the front of the vertebral bodies within 60 mm of the spine), so that the
engine can recover them; the phantom tests the measurement chain, not the
engine's anatomy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from body_organ_analysis.bca import morphology as mo
from body_organ_analysis.bca.tissues import TISSUE_IDS

SPACING = (3.0, 3.0, 5.0)
SHAPE = (180, 128, 40)
NOISE_SD = 12.0
VERTEBRAE = ("L5", "L4", "L3", "L2", "L1", "T12", "T11", "T10")  # 5 slices each, from the feet up
THORAX_FROM = 28  # first slice with lungs
ARMS_FROM = 12
WORLD_X_OFFSET_MM = 70.0  # the body midline lies at world x = +70 mm
HU = {"air": -1000, "skin": 30, "fat": -100, "muscle": 45, "bone": 400, "rib": 300, "liver": 60,
      "spleen": 50, "kidney": 35, "bowel": 25, "gas": -950, "lung": -850, "soft": 35, "vessel": 40}  # fmt: skip


@dataclass
class Phantom:
    hu: np.ndarray  # int16
    affine: np.ndarray
    truth_tissues: np.ndarray  # uint8, tissue ids of bca.tissues (0: none)
    truth_extremity: np.ndarray  # bool, voxels of the arms
    total: np.ndarray  # uint8, `total` ids (vertebrae, organs, lungs, humeri)
    total_labels: dict[int, str]

    @property
    def voxel_ml(self) -> float:
        return float(np.prod(SPACING)) / 1000.0

    @property
    def pixel_cm2(self) -> float:
        return SPACING[0] * SPACING[1] / 100.0

    def truth_volume_ml(self, tissue: str, torso_only: bool = False) -> float:
        mask = self._tissue(tissue)
        if torso_only:
            mask = mask & ~self.truth_extremity
        return float(mask.sum()) * self.voxel_ml

    def truth_area_cm2(self, tissue: str, slice_index: int, torso_only: bool = True) -> float:
        mask = self._tissue(tissue)[:, :, slice_index]
        if torso_only:
            mask = mask & ~self.truth_extremity[:, :, slice_index]
        return float(mask.sum()) * self.pixel_cm2

    def _tissue(self, tissue: str) -> np.ndarray:
        if tissue == "tat":
            return np.isin(self.truth_tissues, [TISSUE_IDS[t] for t in ("sat", "vat", "imat", "pat", "eat")])
        return self.truth_tissues == TISSUE_IDS[tissue]


def make_phantom(seed: int = 0) -> Phantom:
    nx, ny, nz = SHAPE
    sx, sy, _ = SPACING
    x = ((np.arange(nx) - (nx - 1) / 2) * sx)[:, None, None]  # mm (RAS), + is the patient's RIGHT
    y = ((np.arange(ny) - (ny - 1) / 2) * sy)[None, :, None]  # mm, + is anterior
    z = np.arange(nz)[None, None, :]
    full = np.ones(SHAPE, dtype=bool)

    def ellipse(cx: float, cy: float, ax: float, ay: float) -> np.ndarray:
        return ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 <= 1.0

    cls = np.zeros(SHAPE, dtype=np.uint8)  # index into CLASSES
    names = ["air", "skin", "fat", "muscle", "bone", "rib", "liver", "spleen", "kidney", "bowel", "gas", "lung", "soft",
             "vessel"]
    idx = {n: i for i, n in enumerate(names)}
    tissue = np.zeros(SHAPE, dtype=np.uint8)
    total = np.zeros(SHAPE, dtype=np.uint8)
    total_labels: dict[int, str] = {}

    def put(mask: np.ndarray, kind: str, tissue_name: str | None, total_name: str | None = None) -> None:
        cls[mask] = idx[kind]
        tissue[mask] = TISSUE_IDS[tissue_name] if tissue_name else 0
        if total_name is not None:
            label = next((k for k, v in total_labels.items() if v == total_name), len(total_labels) + 1)
            total_labels[label] = total_name
            total[mask] = label

    # trunk and arms: skin, subcutaneous fat, "inner" (inside the fat layer)
    torso = np.broadcast_to(ellipse(0, 0, 160, 110), SHAPE)
    arms = np.zeros(SHAPE, dtype=bool)
    arm_parts = []
    for side, cx in (("right", 225.0), ("left", -225.0)):
        arm = np.broadcast_to(ellipse(cx, 0, 42, 38), SHAPE) & (z >= ARMS_FROM)
        arms |= arm
        arm_parts.append((side, cx, arm))
    body = torso | arms
    depth = mo.inplane_distance_mm(body, (sx, sy))
    put(body, "skin", None)
    put(body & (depth > 3), "fat", "sat")
    inner = (torso & (depth > 33)) | (arms & (depth > 15))
    inner_depth = mo.inplane_distance_mm(inner, (sx, sy))
    wall = inner & (inner_depth <= 10) & torso
    put(inner & arms, "muscle", "muscle")
    for side, cx, arm in arm_parts:
        put(arm & np.broadcast_to(ellipse(cx, 0, 12, 12), SHAPE), "rib", "bone", f"humerus_{side}")
    put(wall, "muscle", "muscle")

    # spine: vertebral body and spinous process, one `total` label per vertebra
    spine = mo.close_2d(np.broadcast_to(ellipse(0, -40, 20, 18) | ellipse(0, -66, 7, 9), SHAPE) & full, 1)
    front_mm = -40 + 18
    back = inner & torso & (y <= front_mm) & (np.abs(x) <= 60) & ~spine & ~wall
    cavity = inner & torso & ~wall & ~back & ~spine
    put(back & (x > 0), "muscle", "muscle", "autochthon_right")
    put(back & (x < 0), "muscle", "muscle", "autochthon_left")
    put(back & np.broadcast_to(ellipse(-35, -52, 7, 7) | ellipse(35, -52, 7, 7), SHAPE), "fat", "imat")
    for index, name in enumerate(VERTEBRAE):
        put(spine & (z >= 5 * index) & (z < 5 * index + 5), "bone", "bone", f"vertebrae_{name}")
    put(cavity, "fat", "vat")  # visceral fat fills the abdominal cavity; organs go on top

    organ_room = cavity & (mo.inplane_distance_mm(inner & torso, (sx, sy)) > 18) & ~mo.dilate_2d(back | spine, 2)
    abdomen = z < THORAX_FROM
    put(organ_room & abdomen & (z >= 14) & ellipse(60, 10, 60, 50), "liver", None, "liver")
    put(organ_room & abdomen & (z >= 18) & ellipse(-75, 5, 30, 35), "spleen", None, "spleen")
    put(organ_room & (z >= 6) & (z < 21) & ellipse(85, -35, 16, 22), "kidney", None, "kidney_right")
    put(organ_room & (z >= 6) & (z < 21) & ellipse(-85, -35, 16, 22), "kidney", None, "kidney_left")
    put(organ_room & (z < 14) & (ellipse(-20, 40, 25, 18) | ellipse(40, 30, 22, 16)), "bowel", None, "small_bowel")
    put(organ_room & (z < 14) & ellipse(-20, 40, 8, 6), "gas", None)
    vessel_room = cavity & abdomen & ~mo.dilate_2d(back | spine, 2)
    put(vessel_room & ellipse(-12, -5, 8, 8), "vessel", None, "aorta")  # left of the midline
    put(vessel_room & ellipse(20, -5, 9, 7), "vessel", None, "inferior_vena_cava")

    # thorax: lungs, mediastinal soft tissue, mediastinal (paracardial) fat, ribs in the wall
    thorax = cavity & (z >= THORAX_FROM)
    put(thorax, "soft", None)
    lung_room = thorax & ~mo.dilate_2d(wall | back | spine, 2)
    put(lung_room & (ellipse(65, 5, 48, 60)), "lung", None, "lung_lower_lobe_right")
    put(lung_room & (ellipse(-65, 5, 48, 60)), "lung", None, "lung_lower_lobe_left")
    put(thorax & np.broadcast_to(ellipse(0, 12, 8, 8), SHAPE), "fat", "pat")
    ribs = np.zeros(SHAPE, dtype=bool)
    for angle in np.deg2rad([30, 60, 120, 150, 210, 330]):
        rx, ry = 118 * np.cos(angle), 70 * np.sin(angle)
        ribs |= np.broadcast_to(ellipse(rx, ry, 5, 5), SHAPE)
    put(ribs & wall & (z >= THORAX_FROM), "rib", "bone")

    rng = np.random.default_rng(seed)
    hu_of = np.array([HU[n] for n in names], dtype=np.float32)
    hu = hu_of[cls] + rng.normal(0.0, NOISE_SD, SHAPE).astype(np.float32)
    affine = np.diag([*SPACING, 1.0])
    # the scanner's x = 0 is not the body's midline: sides must come from the body itself
    affine[:3, 3] = [-(nx - 1) / 2 * sx + WORLD_X_OFFSET_MM, -(ny - 1) / 2 * sy, 0.0]
    return Phantom(np.round(hu).astype(np.int16), affine, tissue, arms.copy(), *_total_ids(total, total_labels))


def _total_ids(total: np.ndarray, labels: dict[int, str]) -> tuple[np.ndarray, dict[int, str]]:
    """Renumber the phantom's `total` map to the ids of the installed `total` label set."""
    from body_organ_analysis.models.registry import get_model

    official = get_model("total").labels()
    by_name = {name: label for label, name in official.items()}
    lut = np.zeros(max(labels) + 1, dtype=np.uint8)
    for label, name in labels.items():
        lut[label] = by_name[name]
    return lut[total], official
