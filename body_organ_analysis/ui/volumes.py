"""Voxel look-ups for the viewer, computed on the server from the files themselves.

The viewer reports a clicked point in world millimetres (NIfTI RAS); here it
becomes a voxel index through the CT's own affine, so the structure name and HU
shown are read from the label map and the CT, not from the browser.
"""

from __future__ import annotations

import base64
import colorsys
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

WINDOWS: dict[str, tuple[float, float]] = {  # name -> (low, high) HU; level/width in docs/ui.md
    "soft tissue": (-160.0, 240.0),  # L 40, W 400
    "lung": (-1350.0, 150.0),  # L -600, W 1500
    "bone": (-500.0, 1300.0),  # L 400, W 1800
}


@dataclass(frozen=True)
class VoxelReading:
    index: tuple[int, int, int]
    hu: float
    label_id: int
    structure: str


def label_maps(output: Path) -> dict[str, Path]:
    """Model name -> label map file, for each ``<model>.nii.gz`` with its ``.labels.json``."""
    found = {}
    for labels_json in sorted(output.glob("*.labels.json")):
        name = labels_json.name.removesuffix(".labels.json")
        image = output / f"{name}.nii.gz"
        if image.is_file():
            found[name] = image
    return found


def label_names(label_map: Path) -> dict[int, str]:
    document = json.loads(label_map.with_name(label_map.name.replace(".nii.gz", ".labels.json")).read_text())
    return {int(k): v for k, v in document["labels"].items()}


def colours(ids: list[int]) -> dict[int, tuple[int, int, int]]:
    """Distinct, stable colours: the golden-ratio hue walk over label ids."""
    out = {}
    for i in ids:
        hue = (i * 0.618033988749895) % 1.0
        r, g, b = colorsys.hsv_to_rgb(hue, 0.75 if i % 2 else 0.95, 0.95 if i % 3 else 0.8)
        out[i] = (int(r * 255), int(g * 255), int(b * 255))
    return out


def file_b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


@lru_cache(maxsize=8)
def _load(path: str, mtime: float) -> tuple[np.ndarray, np.ndarray]:
    image = nib.load(path)
    return np.asanyarray(image.dataobj), image.affine


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    return _load(str(path), path.stat().st_mtime)


def world_to_index(affine: np.ndarray, mm: list[float], shape: tuple[int, ...]) -> tuple[int, int, int] | None:
    ijk = np.rint(np.linalg.inv(affine) @ np.array([*mm[:3], 1.0]))[:3].astype(int)
    if np.any(ijk < 0) or np.any(ijk >= np.array(shape[:3])):
        return None
    return int(ijk[0]), int(ijk[1]), int(ijk[2])


def read_voxel(ct: Path, label_map: Path | None, mm: list[float]) -> VoxelReading | None:
    data, affine = load(ct)
    index = world_to_index(affine, mm, data.shape)
    if index is None:
        return None
    hu = float(data[index])
    label_id, name = 0, "background"
    if label_map is not None:
        labels, _ = load(label_map)
        label_id = int(labels[index])
        name = label_names(label_map).get(label_id, "background" if label_id == 0 else f"label {label_id}")
    return VoxelReading(index, hu, label_id, name)


def interior_point_mm(label_map: Path, label_id: int) -> list[float] | None:
    """The world position (mm) of the voxel deepest inside a structure, or None if it is absent."""
    labels, affine = load(label_map)
    mask = labels == label_id
    box = ndimage.find_objects(mask.astype(np.uint8))
    if not box or box[0] is None:
        return None
    crop = np.pad(mask[box[0]], 1)
    depth = ndimage.distance_transform_edt(crop)
    local = np.unravel_index(int(np.argmax(depth)), depth.shape)
    index = [int(local[a]) - 1 + box[0][a].start for a in range(3)]
    return [float(v) for v in (affine @ np.array([*index, 1.0]))[:3]]
