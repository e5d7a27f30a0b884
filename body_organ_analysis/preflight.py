"""Checks of a run's settings that need the file system or the machine, before any work.

:func:`check_before_work` runs first in ``analyze()``, before the CT is read:
the output folder can be created and written, every ``--segmentation`` file
is a readable 3-D NIfTI, and the GPU asked for is there (even when every map is
supplied and no network would run). Each failure is a :class:`BoaError` with
its documented exit code; nothing has been written when it is raised.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Mapping

from body_organ_analysis.errors import DeviceError, OutputError, SegmentationError
from body_organ_analysis.settings import Settings

# Device files that exist wherever a CUDA (NVIDIA, WSL) or ROCm GPU can be used on Linux.
GPU_DEVICE_FILES = ("/dev/nvidia0", "/dev/nvidiactl", "/dev/dxg", "/dev/kfd")


def check_before_work(settings: Settings, read_headers: bool = True) -> None:
    """All checks; ``read_headers=False`` leaves out the NIfTI headers of supplied maps (which
    need nibabel), so the command line can run the rest within a fraction of a second."""
    check_output_dir(Path(settings.output_dir))
    check_supplied_files(settings.segmentations, read_headers)
    check_device(settings.runtime.device)


def check_output_dir(output_dir: Path) -> None:
    """The output folder exists as a folder, or can be created; and it can be written."""
    way_out = "Choose another folder with -o/--output-dir."
    if output_dir.exists() and not output_dir.is_dir():
        raise OutputError(f"The output path {output_dir} is an existing file, not a folder. {way_out}")
    ancestor = output_dir
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(
            f"The output folder {output_dir} cannot be created: {ancestor} is a file, not a folder. {way_out}"
        )
    try:  # a real attempt: permissions, read-only mounts and full disks all show here
        os.rmdir(tempfile.mkdtemp(prefix=".boa-write-check-", dir=ancestor))
    except OSError as error:
        place = "" if ancestor == output_dir else f" (its nearest existing folder {ancestor} is not writable)"
        raise OutputError(
            f"The output folder {output_dir} cannot be written{place}: {error.strerror}. {way_out}"
        ) from None


def check_supplied_files(segmentations: Mapping[str, Path], read_headers: bool = True) -> None:
    for name, path in segmentations.items():
        if not Path(path).is_file():
            what = "is a folder" if Path(path).is_dir() else "does not exist"
            raise SegmentationError(
                f"--segmentation {name}={path}: the file {what}. Give the path of a .nii or .nii.gz label map."
            )
    if read_headers:
        from body_organ_analysis.models.supplied import open_supplied

        for name, path in segmentations.items():
            open_supplied(Path(path), name)


def check_device(device: str) -> None:
    """A GPU asked for (gpu, cuda, gpu:N, cuda:N) must be there; 'auto' and 'cpu' always are."""
    if device in ("auto", "cpu"):
        return
    if no_gpu_possible():  # decided without importing torch (seconds)
        raise DeviceError(
            f"Device {device!r} was asked for, but no CUDA GPU is available on this machine (it has no "
            "GPU driver device files). Use -d cpu (or DEVICE=cpu), or -d auto to take a GPU only when "
            "there is one."
        )
    from body_organ_analysis.models.predictors import resolve_device

    resolve_device(device)


def no_gpu_possible() -> bool:
    """True when no CUDA/ROCm GPU can be visible to this process (Linux only; else False)."""
    if not sys.platform.startswith("linux"):
        return False
    return not any(os.path.exists(path) for path in GPU_DEVICE_FILES)
