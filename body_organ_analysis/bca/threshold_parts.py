"""Body parts from the body outline (the SAROS way: parts from connected pieces).

Per axial slice, the in-plane connected pieces of the body: the largest is
the torso; when the two largest are of similar size (each at least 35% of the
slice's body) and lie side by side below the torso's middle, they are the legs;
other pieces of 5 cm^2 or more are arms, right or left by their side of the
torso's own centre (the arrays are in RAS order: a larger x index is further to
the patient's right; see imaging/orientation.py). With `total`: voxels of the brain and skull are head, femur voxels'
pieces legs, humerus voxels' pieces arms.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from body_organ_analysis.bca.morphology import SQUARE_2D, open_2d
from body_organ_analysis.imaging.orientation import patient_side
from body_organ_analysis.labelmap import LabelMap
from body_organ_analysis.models.registry import BODY_PARTS_LABELS

P = {name: label for label, name in BODY_PARTS_LABELS.items()}
LIMBS = [P[name] for name in ("right_leg", "left_leg", "right_arm", "left_arm")]
MIN_LIMB_CM2 = 5.0
LEG_SHARE = 0.35


def body_parts(
    body: np.ndarray, spacing: tuple[float, float, float], total_data: np.ndarray | None, total: LabelMap | None
) -> np.ndarray:
    """body_parts map (RAS order) from the body mask."""
    # in-plane pieces (unique ids over the volume); thin bridges (an arm resting against the
    # trunk on this coarse grid) are cut by an opening, then the pieces grow back into them
    pieces, count = ndimage.label(open_2d(body, 1), structure=SQUARE_2D)
    parts = np.where(body, P["torso"], 0).astype(np.uint8)
    if count == 0:
        return parts
    for _ in range(2):
        grown = ndimage.grey_dilation(pieces, footprint=np.ones((3, 3, 1), dtype=bool))
        pieces = np.where(body & (pieces == 0), grown, pieces)
    flat = pieces.ravel()
    nx = body.shape[0]
    sizes = np.bincount(flat, minlength=count + 1).astype(float)
    xs = np.bincount(flat, weights=np.broadcast_to(np.arange(nx)[:, None, None], body.shape).ravel(), minlength=count + 1)
    cx = xs / np.maximum(sizes, 1)
    # slice of each piece
    z_of = np.zeros(count + 1, dtype=np.int64)
    objects = ndimage.find_objects(pieces)
    for index, box in enumerate(objects, start=1):
        if box is not None:
            z_of[index] = box[2].start
    piece_kind = np.full(count + 1, P["torso"], dtype=np.uint8)
    piece_kind[0] = 0
    pixel_cm2 = spacing[0] * spacing[1] / 100.0
    nz = body.shape[2]
    slice_total = np.bincount(z_of[1:], weights=sizes[1:], minlength=nz)
    order = np.lexsort((-sizes[1:], z_of[1:])) + 1  # by slice, largest first
    torso_middle = np.flatnonzero(slice_total > 0).mean()
    first = np.full(nz, -1)
    second = np.full(nz, -1)
    for piece in order:
        z = z_of[piece]
        if first[z] < 0:
            first[z] = piece
        elif second[z] < 0:
            second[z] = piece
    for piece in order:
        z = z_of[piece]
        big = sizes[piece] >= LEG_SHARE * slice_total[z]
        if second[z] > 0 and big and sizes[second[z]] >= LEG_SHARE * slice_total[z] and z < torso_middle \
                and piece in (first[z], second[z]):
            other = second[z] if piece == first[z] else first[z]
            piece_kind[piece] = P[f"{patient_side(cx[piece], cx[other])}_leg"]
        elif piece != first[z] and sizes[piece] * pixel_cm2 >= MIN_LIMB_CM2:
            piece_kind[piece] = P[f"{patient_side(cx[piece], cx[first[z]])}_arm"]
    parts = np.where(body, np.maximum(piece_kind[pieces], P["torso"] * (pieces == 0)), 0).astype(np.uint8)
    if total is not None and total_data is not None:
        parts = _with_total(parts, pieces, piece_kind, total, total_data, cx)
    return parts


def _with_total(parts, pieces, piece_kind, total: LabelMap, total_data: np.ndarray, cx) -> np.ndarray:
    ids = total.ids_by_name
    lut = np.zeros(max(total.labels) + 1, dtype=np.uint8)
    for name, kind in (("femur_left", "left_leg"), ("femur_right", "right_leg"),
                       ("humerus_left", "left_arm"), ("humerus_right", "right_arm")):  # fmt: skip
        if name in ids:
            lut[ids[name]] = P[kind]
    marked = lut[np.clip(total_data, 0, len(lut) - 1)]
    hits = (marked > 0) & (pieces > 0)
    if hits.any():  # a piece holding a femur/humerus is that limb (unless it is the trunk)
        kinds = np.zeros_like(piece_kind)
        kinds[pieces[hits]] = marked[hits]
        relabel = (kinds > 0) & (piece_kind != P["torso"])
        piece_kind = np.where(relabel, kinds, piece_kind)
        parts = piece_kind[pieces]
    head = np.zeros_like(parts, dtype=bool)
    for name in ("brain", "skull"):
        if name in ids:
            head |= total_data == ids[name]
    if head.any():
        head_slices = head.any(axis=(0, 1))
        parts[(parts == P["torso"]) & head_slices[None, None, :]] = P["head"]
    return parts
