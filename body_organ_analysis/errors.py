"""Errors that end a run with a clear message and a documented exit code.

Every problem a user can cause (bad input, missing weights, a GPU that is not
there) is raised as a :class:`BoaError`. The command line prints its message as
one paragraph and exits with its code; it never shows a traceback for these.
Messages never contain patient names, IDs or dates.

The codes are listed in docs/exit_codes.md; keep both in step.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    INTERNAL = 1  # a bug: the only case that shows a traceback (with --verbose)
    USAGE = 2  # bad flags or settings (argparse uses 2 too)
    INPUT_NOT_FOUND = 3  # path missing, empty folder, no DICOM/NIfTI found
    INPUT_UNREADABLE = 4  # corrupt or truncated file, unknown format, RescaleSlope 0
    NOT_CT = 5  # modality is not CT or intensities are not Hounsfield units
    BAD_DIMENSIONS = 6  # 2-D or 4-D data, too few slices, absurd header size
    BAD_GEOMETRY = 7  # absurd voxel spacing, missing slices, uneven spacing, non-orthonormal, tilt
    BAD_VOXELS = 8  # NaN or infinite voxels
    NO_SUITABLE_SERIES = 9  # a DICOM folder without an analysable CT series
    BAD_SEGMENTATION = 10  # a --segmentation file missing, not 3-D, empty, or not fitting CT/model
    UNKNOWN_MODEL = 11  # model name not in the registry
    LICENSE_REQUIRED = 12  # licensed model without a licence number
    WEIGHTS_MISSING = 13  # weights absent and offline, or the download failed
    DEVICE_UNAVAILABLE = 14  # the GPU asked for is not there
    OUTPUT_NOT_WRITABLE = 15  # output folder is a file, cannot be created or written
    UNSAFE_ARCHIVE = 16  # a zip refused: unsafe paths, links, encryption, too large (zip bomb)


class BoaError(Exception):
    """A user-facing error: ``str(error)`` is the whole message."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(BoaError):
    exit_code = ExitCode.USAGE


class InputError(BoaError):
    """Something is wrong with the CT given; the code says what."""

    exit_code = ExitCode.INPUT_UNREADABLE


class SegmentationError(BoaError):
    exit_code = ExitCode.BAD_SEGMENTATION


class ModelError(BoaError):
    exit_code = ExitCode.UNKNOWN_MODEL


class WeightsError(BoaError):
    exit_code = ExitCode.WEIGHTS_MISSING


class DeviceError(BoaError):
    exit_code = ExitCode.DEVICE_UNAVAILABLE


class OutputError(BoaError):
    exit_code = ExitCode.OUTPUT_NOT_WRITABLE
