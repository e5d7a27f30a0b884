"""The preview PNG opened as an image: size, content, overlay colours, orientation."""

from __future__ import annotations

import numpy as np
from PIL import Image
from totalsegmentator.map_to_binary import class_map

from body_organ_analysis.report.preview import GAP_PIXELS, OVERLAY_ALPHA, PIXEL_MM, label_colour

IDS = {name: label for label, name in class_map["total"].items()}


def blended_with(image: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """Pixels that are a grey value blended with ``colour`` (R, G, B equal once the colour is removed)."""
    rest = image.astype(np.float64) - OVERLAY_ALPHA * np.asarray(colour, dtype=np.float64)
    return (np.ptp(rest, axis=2) <= 1.5) & (rest.min(axis=2) >= -1.0)


def test_preview_png(analyzed, ct_and_total):
    _, seg, _ = ct_and_total
    image = np.asarray(Image.open(analyzed / "preview_total.png").convert("RGB"))
    # 3 mm voxels shown at PIXEL_MM pixels: coronal 122 x 30 voxels, sagittal 101 x 30 voxels
    k = round(3 / PIXEL_MM)
    assert image.shape == (30 * k, 122 * k + GAP_PIXELS + 101 * k, 3)
    assert image.shape[1] >= 800  # a useful resolution
    coronal = image[:, : 122 * k]
    assert coronal.std() > 20  # not blank
    grey = (np.ptp(coronal, axis=2) == 0)
    assert grey.mean() > 0.1  # CT visible outside the overlay
    liver = blended_with(coronal, label_colour(IDS["liver"]))
    assert liver.sum() > 500
    # radiological view: the liver (patient's right) lies on the image's left
    assert np.nonzero(liver)[1].mean() < coronal.shape[1] / 2
    from body_organ_analysis.report.pdf_figures import _total_colours

    pdf_colours = _total_colours(int(seg.max()))  # the PDF's overlay colours
    assert label_colour(IDS["liver"]) == tuple(int(pdf_colours[IDS["liver"] - 1][i : i + 2], 16) for i in (1, 3, 5))
    colours_found = sum(blended_with(image, label_colour(i)).sum() > 20 for i in np.unique(seg) if i)
    assert colours_found >= 10
