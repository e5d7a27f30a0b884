"""NIfTI input."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from body_organ_analysis.errors import ExitCode, InputError
from body_organ_analysis.imaging.checks import check_volume
from body_organ_analysis.imaging.volume import CTVolume


def load_nifti(path: Path) -> CTVolume:
    try:
        image = nib.load(str(path))
        data = np.asanyarray(image.dataobj)
    except Exception as error:  # nibabel raises many kinds for broken files
        raise InputError(
            f"The NIfTI file {path.name} cannot be read ({type(error).__name__}); it may be "
            "truncated or not NIfTI at all. Export the CT again.",
            ExitCode.INPUT_UNREADABLE,
        ) from None
    volume = CTVolume(data=data, affine=image.affine.copy(), source="nifti", source_name=path.name)
    return check_volume(volume)
