"""The reference tool's body-composition networks (body_regions, body_parts).

Following the reference tool: the CT is brought to closest-canonical orientation,
resampled along z to 5 mm slices (in-plane spacing kept), predicted with the
fold ensemble (``--fast-bca``: fold 0) by the cached in-process predictor,
resampled back with nearest neighbour to the CT grid, and cleaned up:
``body_parts`` keeps the largest connected component of each part and fills
its holes; ``body_regions`` drops components of fewer than
``MIN_COMPONENT_VOXELS`` voxels.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from scipy import ndimage

from body_organ_analysis.imaging.volume import CTVolume
from body_organ_analysis.models.networks import BCA_SLICE_THICKNESS_MM, Network
from body_organ_analysis.models.predictors import get_predictor
from body_organ_analysis.models.ts_inference import NetworkRun, TaskRun

MIN_COMPONENT_VOXELS = 10
TILE_STEP_SIZE = 0.5


def run_bca_model(ct: CTVolume, name: str, network: Network, root: Path, device: Any) -> tuple[np.ndarray, TaskRun]:
    from totalsegmentator.alignment import as_closest_canonical, undo_canonical
    from totalsegmentator.resampling import change_spacing

    image = nib.Nifti1Image(np.asarray(ct.data, dtype=np.float32), ct.affine)
    canonical = as_closest_canonical(image)
    spacing = canonical.header.get_zooms()[:3]
    target = [float(spacing[0]), float(spacing[1]), BCA_SLICE_THICKNESS_MM]
    resampled = change_spacing(canonical, target, order=1, dtype=np.float32, nr_cpus=1)
    loaded = get_predictor(network.model_dir(root), network.folds, device, TILE_STEP_SIZE)
    record = NetworkRun(
        folder=network.folder,
        trainer_dir=network.trainer_dir,
        folds=list(network.folds) if network.folds is not None else None,
        stand_in=network.is_stand_in(root),
        load_time_s=loaded.load_time_s,
        cached=loaded.uses > 0,
    )
    loaded.uses += 1
    start = time.perf_counter()
    # nnU-Net's axis order is SimpleITK's (z, y, x), spacing likewise
    volume = np.asarray(resampled.dataobj, dtype=np.float32).transpose(2, 1, 0)[None]
    zooms = resampled.header.get_zooms()[:3]
    properties = {"spacing": [float(zooms[2]), float(zooms[1]), float(zooms[0])]}
    prediction = loaded.predictor.predict_single_npy_array(volume, properties, None, None, False)
    record.inference_time_s = round(time.perf_counter() - start, 3)
    labels = np.asarray(prediction, dtype=np.uint8).transpose(2, 1, 0)
    low = nib.Nifti1Image(labels, resampled.affine)
    back = change_spacing(
        low, target, canonical.shape, order=0, dtype=np.uint8, nr_cpus=1, force_affine=canonical.affine
    )
    data = np.asarray(undo_canonical(back, image).dataobj).astype(np.uint8)
    data = clean_body_parts(data) if name == "body_parts" else clean_body_regions(data)
    return data, TaskRun(networks=[record])


def clean_body_parts(data: np.ndarray) -> np.ndarray:
    """Largest connected component of each part, holes filled (a part never overwrites another)."""
    out = np.zeros_like(data)
    for label in (int(v) for v in np.unique(data) if v != 0):
        components, count = ndimage.label(data == label)
        if count == 0:
            continue
        sizes = np.bincount(components.ravel())[1:]
        largest = ndimage.binary_fill_holes(components == int(np.argmax(sizes)) + 1)
        out[largest & (out == 0)] = label
    return out


def clean_body_regions(data: np.ndarray) -> np.ndarray:
    """Drop specks: connected components smaller than MIN_COMPONENT_VOXELS."""
    out = data.copy()
    for label in (int(v) for v in np.unique(data) if v != 0):
        components, count = ndimage.label(data == label)
        sizes = np.bincount(components.ravel())
        small = sizes < MIN_COMPONENT_VOXELS
        small[0] = False
        out[small[components]] = 0
    return out
