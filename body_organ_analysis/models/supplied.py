"""Label maps the user supplies with ``--segmentation NAME=PATH``.

A supplied map replaces running model NAME. It must lie on the CT's grid
(same shape, same affine within a tolerance, or the same grid in another
axis order/orientation, which is reoriented exactly) and hold only labels of
the model's label set; anything else is a clear error.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from body_organ_analysis.errors import SegmentationError
from body_organ_analysis.imaging.orientation import orientation_change
from body_organ_analysis.imaging.volume import CTVolume
from body_organ_analysis.labelmap import LabelMap, present_labels, read_embedded_labels
from body_organ_analysis.models.registry import ModelSpec

AFFINE_TOLERANCE_MM = 1e-3


def open_supplied(path: Path, name: str) -> nib.Nifti1Image:
    """The header of a supplied map, checked (exists, NIfTI, one 3-D volume); no voxel is read."""
    where = f"--segmentation {name}={path}"
    if not Path(path).is_file():
        what = "is a folder" if Path(path).is_dir() else "does not exist"
        raise SegmentationError(f"{where}: the file {what}. Give the path of a .nii or .nii.gz label map.")
    try:
        image = nib.load(str(path))
    except Exception as error:  # nibabel raises many kinds for broken files
        raise SegmentationError(
            f"{where}: the file cannot be read as NIfTI ({type(error).__name__}). "
            "Supply an intact .nii or .nii.gz label map."
        ) from None
    if not isinstance(image, nib.Nifti1Image | nib.Nifti2Image):
        raise SegmentationError(f"{where}: not a NIfTI label map. Supply a .nii or .nii.gz file.")
    shape = tuple(int(s) for s in image.shape)
    if len(shape) != 3 and not (len(shape) == 4 and shape[3] == 1):
        raise SegmentationError(
            f"{where}: the file has {len(shape)} dimension(s) {shape}; a label map is one 3-D volume "
            "on the CT's grid. Supply the model's 3-D output (not a time series or one map per label)."
        )
    return image


def load_supplied(path: Path, spec: ModelSpec, ct: CTVolume) -> LabelMap:
    where = f"--segmentation {spec.name}={path}"
    image = open_supplied(path, spec.name)
    try:
        image = _on_ct_grid(image, ct, where)
        data = np.asanyarray(image.dataobj)
    except SegmentationError:
        raise
    except Exception as error:  # nibabel raises many kinds for broken files
        raise SegmentationError(
            f"{where}: the file cannot be read as NIfTI ({type(error).__name__}). "
            "Supply an intact .nii or .nii.gz label map."
        ) from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if not np.issubdtype(data.dtype, np.integer):
        rounded = np.rint(data)
        if not np.array_equal(rounded, data):
            raise SegmentationError(f"{where}: the voxels are not whole numbers; a label map holds integer ids.")
        data = rounded
    labels = spec.labels()
    present = present_labels(data)
    if not present.any():
        raise SegmentationError(
            f"{where}: every voxel is 0, so the map labels nothing. Supply the {spec.name!r} output "
            "made from this CT, or leave the --segmentation out to run the model."
        )
    foreign = sorted(int(v) for v in present if v != 0 and int(v) not in labels)
    if foreign or (present < 0).any():
        raise SegmentationError(
            f"{where}: label ids {foreign[:10]} are not in the {spec.name!r} label set "
            f"(ids 1-{max(labels)}). Supply the output of that model."
        )
    embedded = read_embedded_labels(image)
    if embedded:
        clashes = [k for k, v in embedded.items() if k in labels and labels[k] != v]
        if clashes:
            raise SegmentationError(
                f"{where}: the file names label {clashes[0]} {embedded[clashes[0]]!r}, but in "
                f"{spec.name!r} it is {labels[clashes[0]]!r}. Supply a map with the model's own ids."
            )
    dtype = np.uint8 if max(labels) < 256 else np.uint16
    # a copy only where needed: a mapped (uncompressed) file, a reoriented view, another dtype
    contiguous = data.flags.c_contiguous or data.flags.f_contiguous
    return LabelMap(
        data=data.astype(dtype, copy=isinstance(data, np.memmap) or not contiguous),
        affine=ct.affine.copy(),
        labels=labels,
        model=spec.name,
        origin="user-supplied",
        details={"file": str(path)},
    )


def _on_ct_grid(image: nib.Nifti1Image, ct: CTVolume, where: str) -> nib.Nifti1Image:
    """Return ``image`` on the CT grid, reoriented if it is the same grid flipped/permuted."""
    if image.shape[:3] == ct.shape and np.allclose(image.affine, ct.affine, atol=AFFINE_TOLERANCE_MM):
        return image
    reoriented = image.as_reoriented(orientation_change(image.affine, ct.affine))
    if reoriented.shape[:3] == ct.shape and np.allclose(
        reoriented.affine, ct.affine, atol=AFFINE_TOLERANCE_MM
    ):
        return reoriented
    raise SegmentationError(
        f"{where}: the label map does not lie on the CT's grid (label map {tuple(image.shape[:3])} "
        f"voxels, CT {ct.shape}; or their positions in space differ). Supply a segmentation "
        "made from this very CT."
    )
