"""Body regions from HU rules and morphology (the threshold engine's main work).

Rules, on an in-plane downsampled grid (about 3 mm pixels), arrays in RAS
order (x to the patient's left, y anterior, z head-wards):

1. body: HU > -500, thin objects (table, cables) removed by an opening, holes
   filled slice by slice; skin: its outer 3 mm.
2. "inner" (everything inside the muscle wall): the non-fat tissue 4 mm or
   more below the skin, closed with a 12 mm disk and filled. Body minus inner
   is subcutaneous tissue.
3. bones: HU > 180 closed and filled (plus `total` bones).
4. muscle: the outer 10 mm of inner (abdominal and chest wall), the region
   behind the front of the vertebral bodies within 60 mm of the spine (back
   muscles, psoas), and `total`'s named muscles; minus bones, organs, lungs.
5. cavities: the rest of inner. Lungs are large air components (or `total`'s
   lungs); the thoracic part is the slice-wise hull of lungs (and heart);
   within it, what is not lung is mediastinum, around `total`'s heart the
   pericardium. The rest is abdominal cavity.
6. arms and legs (see threshold_parts): everything inside their fat layer
   that is not bone is muscle.
7. `total` adds glands (thyroid), brain and spinal cord when present.
"""

from __future__ import annotations

import numpy as np

from body_organ_analysis.bca import morphology as mo
from body_organ_analysis.bca.total_groups import group_masks
from body_organ_analysis.labelmap import LabelMap, is_fortran
from body_organ_analysis.models.registry import BODY_REGIONS_LABELS

R = {name: label for label, name in BODY_REGIONS_LABELS.items()}
FAT_HU = (-190.0, -30.0)
AIR_HU = -500.0
BONE_HU = 180.0
WALL_MM = 10.0
BACK_HALF_WIDTH_MM = 60.0


def body_regions(
    hu: np.ndarray,
    spacing: tuple[float, float, float],
    total_data: np.ndarray | None,
    total: LabelMap | None,
    factor: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (body_regions map on the full grid, body_parts map on the coarse grid), RAS order."""
    from body_organ_analysis.bca.threshold_parts import LIMBS, body_parts

    pixel_mm = (spacing[0] * factor, spacing[1] * factor)

    def px(mm: float) -> int:
        return max(1, int(round(mm / min(pixel_mm))))

    coarse = mo.block_reduce_mean(hu, factor)
    groups = {}
    coarse_total = None if total_data is None else np.ascontiguousarray(total_data[::factor, ::factor, :])
    if total is not None and coarse_total is not None:
        groups = group_masks(total, coarse_total)
    empty = np.zeros(coarse.shape, dtype=bool)

    def group(*names: str) -> np.ndarray:
        out = empty.copy()
        for name in names:
            if name in groups:
                out |= groups[name]
        return out

    body = outline(coarse, px)
    parts = body_parts(body, (pixel_mm[0], pixel_mm[1], spacing[2]), coarse_total, total)
    limbs = np.isin(parts, LIMBS)
    fat = (coarse >= FAT_HU[0]) & (coarse <= FAT_HU[1])
    lean = mo.erode_2d(body, px(4)) & ~fat
    hints = group("muscle", "organ", "lung", "heart", "vertebra") & body
    inner = mo.fill_holes_2d(mo.close_2d(mo.open_2d(lean, 1) | hints, px(12))) & body
    inner |= lean & mo.dilate_2d(inner, 1)  # give back the edge pixels the opening took
    inner = mo.remove_small_2d(inner, max(4, int(400 / (pixel_mm[0] * pixel_mm[1]))))

    bone = mo.fill_holes_2d(mo.close_2d(inner & (coarse > BONE_HU), 1)) & inner
    bone = (bone & ~group("organ", "heart", "lung")) | (group("bone", "vertebra") & body)
    lungs = group("lung") if "lung" in groups else find_lungs(coarse, inner, spacing, factor)
    soft_organs = group("organ", "heart", "spinal_cord", "brain", "gland")

    ring = inner & (mo.inplane_distance_mm(inner, pixel_mm) <= WALL_MM)
    back = back_region(inner & ~limbs, bone, group("vertebra"), pixel_mm)
    back &= ~limbs
    muscle = (ring | back | group("muscle")) & ~bone & ~soft_organs & ~mo.dilate_2d(lungs, 1)
    muscle |= inner & limbs & ~bone  # arms and legs: all muscle inside their fat layer

    cavity = inner & ~muscle & ~bone
    hull = hull_half_resolution(lungs | group("heart"), px(40)) & cavity
    mediastinum = hull & ~mo.dilate_2d(lungs, px(3))
    pericardium = mo.dilate_2d(group("heart"), px(5)) & mediastinum

    labels = np.zeros(coarse.shape, dtype=np.uint8)
    labels[body] = R["subcutaneous_tissue"]
    labels[muscle] = R["muscle"]
    labels[cavity] = R["abdominal_cavity"]
    labels[hull] = R["thoracic_cavity"]
    labels[mediastinum] = R["mediastinum"]
    labels[pericardium] = R["pericardium"]
    labels[bone] = R["bones"]
    for name, region in (("gland", "glands"), ("brain", "brain"), ("spinal_cord", "spinal_cord")):
        if name in groups:
            labels[groups[name] & body] = R[region]
    full = mo.upsample_labels(labels, factor, hu.shape, fortran=is_fortran(hu))
    if factor > 1:
        full = refine_edges(full, labels, hu, factor)
    trim_skin_surface(full, hu)
    return full, parts


def hull_half_resolution(mask: np.ndarray, radius_px: int) -> np.ndarray:
    """Closed and filled ``mask``, computed at half resolution (a hull needs no detail)."""
    if not mask.any():
        return mask.copy()
    half = mo.block_reduce_any(mask, 2)
    hull = mo.fill_holes_2d(mo.close_2d(half, max(1, radius_px // 2)))
    return mo.upsample_labels(hull, 2, mask.shape) | mask


def outline(coarse: np.ndarray, px) -> np.ndarray:
    """The body: dense voxels, without thin objects like the table, holes filled."""
    dense = coarse > AIR_HU
    opened = mo.open_2d(dense, px(6))
    from scipy import ndimage

    components, count = ndimage.label(opened)
    if count == 0:
        return mo.fill_holes_2d(dense)
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    keep = sizes >= 0.02 * sizes.max()
    kept = keep[components]
    return mo.fill_holes_2d(dense & mo.dilate_2d(kept, px(6) + 1))


def find_lungs(coarse: np.ndarray, inner: np.ndarray, spacing, factor: int) -> np.ndarray:
    """Lungs without `total`: large air components inside the body with lung-like mean HU."""
    from scipy import ndimage

    air = mo.open_2d(inner & (coarse < -400), 1)
    components, count = ndimage.label(air)
    if count == 0:
        return air
    voxel_ml = spacing[0] * spacing[1] * factor * factor * spacing[2] / 1000.0
    sizes = np.bincount(components.ravel())
    sums = np.bincount(components.ravel(), weights=coarse.ravel())
    means = sums / np.maximum(sizes, 1)
    keep = (sizes * voxel_ml >= 100) & (means > -980) & (means < -550)
    keep[0] = False
    return keep[components]


def back_region(inner: np.ndarray, bone: np.ndarray, vertebrae: np.ndarray, pixel_mm) -> np.ndarray:
    """Behind the front of the vertebral body, within 60 mm of the spine: back muscles and psoas."""
    nx, ny, nz = inner.shape
    x = np.arange(nx)[:, None, None]
    y = np.arange(ny)[None, :, None]
    if vertebrae.any():
        spine = vertebrae
    else:  # bone near the midline of the body, in its posterior half
        count = np.maximum(inner.sum(axis=(0, 1)), 1)
        cx = (inner * x).sum(axis=(0, 1)) / count
        cy = (inner * y).sum(axis=(0, 1)) / count
        spine = bone & (np.abs(x - cx) * pixel_mm[0] <= 25) & (y < cy)
    has = spine.any(axis=(0, 1))
    if not has.any():
        return np.zeros_like(inner)
    front = np.where(spine, y, -1).max(axis=(0, 1)).astype(float)
    spine_x = (spine * x).sum(axis=(0, 1)) / np.maximum(spine.sum(axis=(0, 1)), 1)
    # slices between vertebrae (discs) take the nearest vertebra's values
    z = np.arange(nz)
    known = np.flatnonzero(has)
    front = np.interp(z, known, front[known])
    spine_x = np.interp(z, known, spine_x[known])
    within = (z >= known[0]) & (z <= known[-1])
    back = (y <= front) & (np.abs(x - spine_x) * pixel_mm[0] <= BACK_HALF_WIDTH_MM)
    return back & inner & within[None, None, :]


def refine_edges(full: np.ndarray, coarse: np.ndarray, hu: np.ndarray, factor: int) -> np.ndarray:
    """At full resolution: outside air leaves the body, and where subcutaneous tissue meets
    muscle, each voxel goes to the side its HU says (fat -> subcutaneous, soft tissue -> muscle)."""
    sub, mus = R["subcutaneous_tissue"], R["muscle"]
    border = (mo.dilate_2d(coarse == mus, 1) & (coarse == sub)) | (mo.dilate_2d(coarse == sub, 1) & (coarse == mus))
    out = full.copy(order="K")  # keep the CT's memory order
    bx, by, bz = np.nonzero(border)  # only the coarse blocks on the border are touched
    for dx in range(factor):
        for dy in range(factor):
            x, y = bx * factor + dx, by * factor + dy
            inside = (x < hu.shape[0]) & (y < hu.shape[1])
            x, y, z = x[inside], y[inside], bz[inside]
            values = hu[x, y, z]
            fat = (values >= FAT_HU[0]) & (values <= FAT_HU[1])
            out[x[fat], y[fat], z[fat]] = sub
            soft = values > FAT_HU[1]
            out[x[soft], y[soft], z[soft]] = mus
    out[(out == sub) & (hu < AIR_HU)] = 0
    return out


def trim_skin_surface(regions: np.ndarray, hu: np.ndarray) -> None:
    """Subcutaneous voxels touching outside air in-plane are partial-volume skin: not body.

    (Their mixed HU would otherwise count as fat.)"""
    air = hu < AIR_HU
    near = np.zeros_like(air)
    near[1:] |= air[:-1]
    near[:-1] |= air[1:]
    near[:, 1:] |= air[:, :-1]
    near[:, :-1] |= air[:, 1:]
    regions[near & ~air & (regions == R["subcutaneous_tissue"])] = 0
