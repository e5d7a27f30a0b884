"""``preview_<model>.png``: a label map over the CT, coronal and sagittal views side by side.

Rendered with numpy and written with matplotlib's image writer (no figure, no
X server). The CT is shown in a soft-tissue window (W 400, L 40); each label
is blended in its own colour (``label_colour``, the PDF's colours) at ``OVERLAY_ALPHA``. Both views
cut through the centre of the labelled voxels, are shown in radiological
convention (patient's right on the image's left, head up) and resampled to
square pixels of ``PIXEL_MM``.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

WINDOW_HU = (-160.0, 240.0)
OVERLAY_ALPHA = 0.5
PIXEL_MM = 0.5  # a 40 cm field of view becomes 800 pixels
GAP_PIXELS = 4


def label_colour(label: int) -> tuple[int, int, int]:
    """The colour of a label id: matplotlib's tab20 cycle, as the label overlays of the PDF report."""
    from matplotlib import colormaps

    r, g, b, _ = colormaps["tab20"]((label - 1) % 20)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def _to_ras(data: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """The array reordered so that its axes run towards R, A, S."""
    transform = nib.orientations.ornt_transform(
        nib.orientations.io_orientation(affine), nib.orientations.axcodes2ornt("RAS")
    )
    return nib.orientations.apply_orientation(data, transform)


def _render(ct_plane: np.ndarray, label_plane: np.ndarray, zoom: tuple[float, float]) -> np.ndarray:
    """RGB image of one plane, rows = first axis. ``zoom`` scales to square pixels."""
    low, high = WINDOW_HU
    grey = np.clip((ct_plane.astype(np.float64) - low) / (high - low), 0.0, 1.0)
    grey = ndimage.zoom(grey, zoom, order=1)
    labels = ndimage.zoom(label_plane, zoom, order=0)
    rgb = np.repeat((grey * 255.0)[..., None], 3, axis=2)
    palette = np.zeros((int(labels.max()) + 1, 3), dtype=np.float64)
    for label in range(1, palette.shape[0]):
        palette[label] = label_colour(label)
    labelled = labels > 0
    rgb[labelled] = (1 - OVERLAY_ALPHA) * rgb[labelled] + OVERLAY_ALPHA * palette[labels[labelled]]
    return np.round(rgb).astype(np.uint8)


def preview_image(ct: np.ndarray, labels_data: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """The preview as an RGB uint8 array: coronal view, a gap, sagittal view."""
    ct_ras = _to_ras(np.asarray(ct), affine)
    labels_ras = _to_ras(np.asarray(labels_data), affine)
    spacing_ras = np.zeros(3)
    for axis, (ras_axis, _) in enumerate(nib.orientations.io_orientation(affine)):
        spacing_ras[int(ras_axis)] = nib.affines.voxel_sizes(affine)[axis]
    centre = (
        np.round(ndimage.center_of_mass(labels_ras > 0)).astype(int)
        if labels_ras.any()
        else np.array(labels_ras.shape) // 2
    )
    sx, sy, sz = spacing_ras
    # coronal: rows = S (top = head), columns from the patient's right (largest x) to left
    coronal_ct = ct_ras[:, centre[1], :].T[::-1, ::-1]
    coronal_labels = labels_ras[:, centre[1], :].T[::-1, ::-1]
    # sagittal: rows = S (top = head), columns = A on the left
    sagittal_ct = ct_ras[centre[0], :, :].T[::-1, ::-1]
    sagittal_labels = labels_ras[centre[0], :, :].T[::-1, ::-1]
    coronal = _render(coronal_ct, coronal_labels, (sz / PIXEL_MM, sx / PIXEL_MM))
    sagittal = _render(sagittal_ct, sagittal_labels, (sz / PIXEL_MM, sy / PIXEL_MM))
    height = max(coronal.shape[0], sagittal.shape[0])
    canvas = np.zeros((height, coronal.shape[1] + GAP_PIXELS + sagittal.shape[1], 3), dtype=np.uint8)
    canvas[: coronal.shape[0], : coronal.shape[1]] = coronal
    canvas[: sagittal.shape[0], coronal.shape[1] + GAP_PIXELS :] = sagittal
    return canvas


def write_preview(path: Path, ct: np.ndarray, labels_data: np.ndarray, affine: np.ndarray) -> None:
    from matplotlib.image import imsave

    imsave(str(path), preview_image(ct, labels_data, affine), format="png")
