"""``-r/--radiomics``: pyradiomics features of every present structure (optional extra).

Install with ``pip install "body-organ-analysis[radiomics]"`` (pyradiomics-bhklab,
a maintained build of pyradiomics). Features come from pyradiomics' default
extractor (original image; first-order, shape, GLCM, GLRLM, GLSZM, GLDM,
NGTDM classes) on the CT and label map held in memory, so NIfTI and DICOM input
work alike. Structures smaller than ``MIN_VOXELS`` are skipped with a reason
(texture matrices need a few voxels).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from body_organ_analysis.errors import UsageError
from body_organ_analysis.imaging.orientation import RAS_TO_LPS, voxel_spacing
from body_organ_analysis.labelmap import LabelMap

MIN_VOXELS = 10
NOT_INSTALLED = (
    "--radiomics needs pyradiomics, which is not installed. Install the optional extra with "
    "pip install 'body-organ-analysis[radiomics]' (pyradiomics-bhklab), or leave out -r/--radiomics."
)


def require_pyradiomics() -> None:
    """Raise a clear :class:`UsageError` when pyradiomics is missing."""
    try:
        import radiomics  # noqa: F401
    except ImportError:
        raise UsageError(NOT_INSTALLED) from None


def _sitk_image(data: np.ndarray, affine: np.ndarray) -> Any:
    """A SimpleITK image (LPS) of a nibabel-ordered (i, j, k) array with RAS ``affine``."""
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(np.transpose(data, (2, 1, 0))))
    spacing = np.asarray(voxel_spacing(affine))
    lps = RAS_TO_LPS[:3, :3]
    image.SetSpacing([float(s) for s in spacing])
    image.SetOrigin([float(v) for v in lps @ affine[:3, 3]])
    image.SetDirection([float(v) for v in (lps @ (affine[:3, :3] / spacing)).reshape(-1)])
    return image


def radiomics_features(ct: np.ndarray, affine: np.ndarray, label_maps: dict[str, LabelMap]) -> dict[str, Any]:
    """{model: {structure: {feature: value} | {"skipped": reason}}} for present structures."""
    require_pyradiomics()
    from radiomics import featureextractor

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    extractor = featureextractor.RadiomicsFeatureExtractor()
    image = _sitk_image(ct.astype(np.float32), affine)
    result: dict[str, Any] = {}
    for model, label_map in label_maps.items():
        counts = np.bincount(label_map.data.reshape(-1), minlength=max(label_map.labels) + 1)
        mask = _sitk_image(label_map.data.astype(np.uint16), affine)
        per_structure: dict[str, Any] = {}
        for label, name in sorted(label_map.labels.items()):
            if counts[label] == 0:
                continue
            if counts[label] < MIN_VOXELS:
                per_structure[name] = {"skipped": f"fewer than {MIN_VOXELS} voxels"}
                continue
            features = extractor.execute(image, mask, label=label)
            per_structure[name] = {
                key.removeprefix("original_"): _plain(value)
                for key, value in features.items()
                if not key.startswith("diagnostics_")
            }
        result[model] = per_structure
    return result


def _plain(value: Any) -> Any:
    array = np.asarray(value)
    if array.ndim == 0:
        number = float(array)
        return number if np.isfinite(number) else None
    return [float(v) for v in array.reshape(-1)]
