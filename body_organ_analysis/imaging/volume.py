"""The CT volume every step works on: voxels, their grid, and metadata."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import nibabel as nib
import numpy as np

from body_organ_analysis.imaging.orientation import voxel_spacing
from body_organ_analysis.imaging.slabs import slabs


@dataclass
class CTVolume:
    """A checked CT volume in Hounsfield units.

    ``data`` is indexed (i, j, k) as nibabel reads it; ``affine`` maps voxel
    indices to RAS+ millimetres. For DICOM input this is the grid of the
    ``image.nii.gz`` the pipeline writes, and every label map lies on it.

    ``metadata`` holds non-identifying DICOM values (UIDs, kVp, kernel, study
    date ...); ``patient`` holds identifying ones (name, ID, birth date, sex,
    age, size, weight). Only the report sheets may show ``patient`` values;
    logs and folder names never do.
    """

    data: np.ndarray
    affine: np.ndarray
    source: str  # "nifti", "dicom" or "zip"
    source_name: str  # file or folder name, used for --use-study-prefix
    metadata: dict[str, Any] = field(default_factory=dict)
    patient: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # e.g. "gantry tilt resampled"
    _fingerprint: tuple[np.ndarray, bytes, str] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.data.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> tuple[float, float, float]:
        return voxel_spacing(self.affine)

    @property
    def voxel_volume_ml(self) -> float:
        return float(np.prod(self.spacing)) / 1000.0

    def to_nifti(self) -> nib.Nifti1Image:
        image = nib.Nifti1Image(self.data, self.affine)
        image.set_qform(self.affine, code=1)
        image.set_sform(self.affine, code=1)
        return image

    def fingerprint(self) -> str:
        """SHA-256 over voxels and geometry: identifies the input in the manifest.

        Computed once per volume and geometry (the voxels are never changed after loading).
        """
        cached = self._fingerprint
        geometry = np.asarray(self.affine).tobytes()
        if cached is None or cached[0] is not self.data or cached[1] != geometry:
            cached = self._fingerprint = (self.data, geometry, self._compute_fingerprint())
        return cached[2]

    def _compute_fingerprint(self) -> str:
        digest = hashlib.sha256()
        digest.update(str(self.data.dtype).encode())
        digest.update(np.asarray(self.data.shape, dtype=np.int64).tobytes())
        digest.update(np.round(np.asarray(self.affine, dtype=np.float64), 5).tobytes())
        # the voxels in NIfTI's order (first index fastest), as nibabel's Fortran-ordered arrays
        # hold them: no copy for those; slab by slab along the last axis for any other layout
        for slab in slabs(self.data, axis=self.data.ndim - 1):
            digest.update(np.ascontiguousarray(self.data[slab].T))
        return digest.hexdigest()
