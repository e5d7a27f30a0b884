"""``preview_<model>.png``: a label map over the CT, coronal and sagittal views side by side.

Rendered with numpy and written with matplotlib's image writer (no figure, no
X server). The CT is shown in a soft-tissue window (W 400, L 40); each label
is blended in its own colour (``label_colour``, the PDF's colours) at ``OVERLAY_ALPHA``. Both views
cut through the centre of the labelled voxels, are shown in radiological
convention (imaging/orientation.py: coronal with the patient's right on the
image's left, sagittal with anterior on the left, head up), resampled to
square pixels of ``PIXEL_MM``, and the written PNG names each panel's edges
with small letters (R/L, H/F, A/P).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from body_organ_analysis.imaging.orientation import EDGE_LETTERS, display_pixel_mm, display_plane, reorientation

WINDOW_HU = (-160.0, 240.0)
OVERLAY_ALPHA = 0.5
PIXEL_MM = 0.5  # a 40 cm field of view becomes 800 pixels
GAP_PIXELS = 4


def label_colour(label: int) -> tuple[int, int, int]:
    """The colour of a label id: matplotlib's tab20 cycle, as the label overlays of the PDF report."""
    from matplotlib import colormaps

    r, g, b, _ = colormaps["tab20"]((label - 1) % 20)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


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


def preview_panels(ct: np.ndarray, labels_data: np.ndarray, affine: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """[(view, RGB image)] of the coronal and sagittal cuts, radiological, square pixels."""
    change = reorientation(affine, np.shape(ct))
    ct_ras = change.forward(np.asarray(ct))
    labels_ras = change.forward(np.asarray(labels_data))
    centre = (
        np.round(ndimage.center_of_mass(labels_ras > 0)).astype(int)
        if labels_ras.any()
        else np.array(labels_ras.shape) // 2
    )
    panels = []
    for view, index in (("coronal", centre[1]), ("sagittal", centre[0])):
        rows_mm, columns_mm = display_pixel_mm(change.spacing, view)
        zoom = (rows_mm / PIXEL_MM, columns_mm / PIXEL_MM)
        panels.append((view, _render(display_plane(ct_ras, view, index), display_plane(labels_ras, view, index), zoom)))
    return panels


def _assemble(panels: list[tuple[str, np.ndarray]]) -> tuple[np.ndarray, list[tuple[str, int, int, int]]]:
    """Panels side by side with a gap; and each panel's (view, left, width, height) in pixels."""
    height = max(image.shape[0] for _, image in panels)
    width = sum(image.shape[1] for _, image in panels) + GAP_PIXELS * (len(panels) - 1)
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    boxes, left = [], 0
    for view, image in panels:
        canvas[: image.shape[0], left : left + image.shape[1]] = image
        boxes.append((view, left, image.shape[1], image.shape[0]))
        left += image.shape[1] + GAP_PIXELS
    return canvas, boxes


def preview_image(ct: np.ndarray, labels_data: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """The preview as an RGB uint8 array: coronal view, a gap, sagittal view (no letters)."""
    return _assemble(preview_panels(ct, labels_data, affine))[0]


def with_edge_letters(canvas: np.ndarray, boxes: list[tuple[str, int, int, int]]) -> np.ndarray:
    """``canvas`` with each panel's edge letters drawn in; boxes are (view, left, width, height) px."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    height, width = canvas.shape[:2]
    dpi = 100
    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    figure.figimage(canvas, 0, 0, origin="upper")
    size = max(5.0, min(9.0, height / 12.0))
    style = {"fontsize": size, "color": "#ffd400", "fontweight": "bold", "fontfamily": "DejaVu Sans"}
    for view, left, panel_width, panel_height in boxes:
        top, bottom, left_letter, right_letter = EDGE_LETTERS[view]
        x0, x1 = left / width, (left + panel_width) / width
        y_top, y_bottom = 1.0, 1.0 - panel_height / height
        centre_x, centre_y = (x0 + x1) / 2, (y_top + y_bottom) / 2
        pad_x, pad_y = 2 / width, 2 / height
        figure.text(centre_x, y_top - pad_y, top, ha="center", va="top", **style)
        figure.text(centre_x, y_bottom + pad_y, bottom, ha="center", va="bottom", **style)
        figure.text(x0 + pad_x, centre_y, left_letter, ha="left", va="center", **style)
        figure.text(x1 - pad_x, centre_y, right_letter, ha="right", va="center", **style)
    agg = FigureCanvasAgg(figure)
    agg.draw()
    return np.asarray(agg.buffer_rgba())[:height, :width, :3].copy()


def write_preview(path: Path, ct: np.ndarray, labels_data: np.ndarray, affine: np.ndarray) -> None:
    from matplotlib.image import imsave

    canvas, boxes = _assemble(preview_panels(ct, labels_data, affine))
    imsave(str(path), with_edge_letters(canvas, boxes), format="png")
